//! `export --attach FILE...`: files a game's own tooling produced (inspector CSVs, QA metadata)
//! published next to PlayTrace's artifacts, through the same writers, retries and manifest.
//! Patterns with `*` or `?` in their file name are expanded here, so a quoted glob works where
//! no shell expands it (a CI step's YAML).

use anyhow::{bail, Context, Result};
use playtrace_export::Artifact;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The attachments as artifacts (kind `attachment`, named by their file name), in the order
/// given, each pattern's matches sorted.
pub fn attachments(patterns: &[String]) -> Result<Vec<Artifact>> {
    let mut out = Vec::new();
    for pattern in patterns {
        for path in expand(pattern)? {
            let bytes = std::fs::read(&path)
                .with_context(|| format!("--attach: cannot read `{}`", path.display()))?;
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                bail!(
                    "--attach: `{}` has no file name that is UTF-8",
                    path.display()
                );
            };
            out.push(Artifact {
                name: name.to_string(),
                media_type: media_type(name).into(),
                bytes: Arc::new(bytes),
                kind: "attachment".into(),
                context: serde_json::json!({"source": path.display().to_string()}),
            });
        }
    }
    Ok(out)
}

/// A pattern's files: itself when it has no wildcard, else the matches in its directory.
fn expand(pattern: &str) -> Result<Vec<PathBuf>> {
    let path = Path::new(pattern);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !name.contains(['*', '?']) {
        if !path.is_file() {
            bail!("--attach: `{pattern}` is not a file (check the path)");
        }
        return Ok(vec![path.to_path_buf()]);
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let entries = std::fs::read_dir(&dir).with_context(|| {
        format!(
            "--attach `{pattern}`: cannot list the directory `{}`",
            dir.display()
        )
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| e.file_name().to_str().is_some_and(|n| matches(name, n)))
        .map(|e| dir.join(e.file_name()))
        .collect();
    if found.is_empty() {
        bail!("--attach `{pattern}`: no file matches");
    }
    found.sort();
    Ok(found)
}

/// Whether `name` matches `pattern`, where `*` is any run of characters and `?` any one.
fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn media_type(name: &str) -> &'static str {
    match name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
    {
        Some(ext) => match ext.as_str() {
            "csv" => "text/csv",
            "json" => "application/json",
            "ndjson" | "jsonl" => "application/x-ndjson",
            "md" => "text/markdown",
            "txt" | "log" => "text/plain",
            "svg" => "image/svg+xml",
            "png" => "image/png",
            "html" => "text/html",
            _ => "application/octet-stream",
        },
        None => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards_match_as_a_shell_would() {
        assert!(matches(
            "04-inspector-*.csv",
            "04-inspector-cascade-targets.csv"
        ));
        assert!(!matches("04-inspector-*.csv", "04-inspector-x.json"));
        assert!(matches("a?c*", "abc"));
        assert!(matches("*", "anything"));
        assert!(!matches("a*b", "acbd"));
    }
}
