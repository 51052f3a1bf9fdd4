//! The AWS shared config and credentials files (`~/.aws/config`, `~/.aws/credentials`), read
//! the way the AWS CLI reads them, so a machine set up with `aws configure` (or a CI job with
//! a profile) needs no extra variables. `object_store` reads only environment variables.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The settings of one profile, from both files (credentials win over config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// `aws_access_key_id`.
    pub access_key_id: Option<String>,
    /// `aws_secret_access_key`.
    pub secret_access_key: Option<String>,
    /// `aws_session_token`.
    pub session_token: Option<String>,
    /// `region`.
    pub region: Option<String>,
    /// `endpoint_url`.
    pub endpoint_url: Option<String>,
}

impl Profile {
    /// The profile named by `AWS_PROFILE` (default `default`) from the files named by
    /// `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE` (default under `~/.aws`). Missing or
    /// unreadable files give an empty profile: the variables may still be enough.
    pub fn from_environment() -> Profile {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let home = env("HOME").map(PathBuf::from);
        let file = |var: &str, name: &str| {
            env(var)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)))
        };
        let name = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
        Profile::load(
            &name,
            file("AWS_CONFIG_FILE", "config").as_deref(),
            file("AWS_SHARED_CREDENTIALS_FILE", "credentials").as_deref(),
        )
    }

    /// Profile `name` from the given files.
    pub fn load(name: &str, config: Option<&Path>, credentials: Option<&Path>) -> Profile {
        let read = |p: Option<&Path>| p.and_then(|p| std::fs::read_to_string(p).ok());
        // In the config file profiles are `[profile NAME]`, except `[default]`.
        let config_section = if name == "default" {
            "default".to_string()
        } else {
            format!("profile {name}")
        };
        let mut settings = read(config)
            .map(|t| section(&t, &config_section))
            .unwrap_or_default();
        if let Some(text) = read(credentials) {
            settings.extend(section(&text, name));
        }
        let mut take = |k: &str| settings.remove(k).filter(|v| !v.is_empty());
        Profile {
            access_key_id: take("aws_access_key_id"),
            secret_access_key: take("aws_secret_access_key"),
            session_token: take("aws_session_token"),
            region: take("region"),
            endpoint_url: take("endpoint_url"),
        }
    }
}

/// The `key = value` lines of `[wanted]` in an INI text (keys lower-cased; `#`/`;` comments).
fn section(text: &str, wanted: &str) -> HashMap<String, String> {
    let mut inside = false;
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.split_whitespace().collect::<Vec<_>>().join(" ") == wanted;
            continue;
        }
        if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_come_from_both_files_as_the_aws_cli_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        let credentials = dir.path().join("credentials");
        std::fs::write(
            &config,
            "[default]\nregion = eu-west-1\n\n[profile qa]\n# local server\nregion=eu-north-1\nendpoint_url = http://127.0.0.1:9000\naws_access_key_id = FROMCONFIG\n",
        )
        .unwrap();
        std::fs::write(
            &credentials,
            "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = SKDEFAULT\n[qa]\nAWS_ACCESS_KEY_ID = AKQA\naws_secret_access_key = SK=with=equals\naws_session_token = TOKEN\n",
        )
        .unwrap();
        let qa = Profile::load("qa", Some(&config), Some(&credentials));
        assert_eq!(
            qa,
            Profile {
                access_key_id: Some("AKQA".into()),
                secret_access_key: Some("SK=with=equals".into()),
                session_token: Some("TOKEN".into()),
                region: Some("eu-north-1".into()),
                endpoint_url: Some("http://127.0.0.1:9000".into()),
            }
        );
        let default = Profile::load("default", Some(&config), Some(&credentials));
        assert_eq!(default.access_key_id.as_deref(), Some("AKDEFAULT"));
        assert_eq!(default.region.as_deref(), Some("eu-west-1"));
        assert_eq!(default.endpoint_url, None);
        assert_eq!(
            Profile::load("missing", Some(&config), Some(&dir.path().join("nope"))),
            Profile::default()
        );
    }
}
