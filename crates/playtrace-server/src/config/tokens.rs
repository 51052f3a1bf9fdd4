//! `[[tokens]]`: who may ingest, read or administer, and for which game.

use super::{invalid, ConfigError};
use crate::auth::{Scope, Token};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenFile {
    name: String,
    secret: Option<String>,
    secret_env: Option<String>,
    scopes: Vec<String>,
    game: Option<String>,
}

pub(super) fn token(i: usize, t: TokenFile) -> Result<Token, ConfigError> {
    let key = format!("tokens[{i}] ({})", t.name);
    let secret = match (t.secret, t.secret_env) {
        (Some(s), None) => s,
        (None, Some(var)) => std::env::var(&var).map_err(|_| {
            invalid(
                &key,
                format!("secret_env names ${var}, which is not set (or not UTF-8)"),
            )
        })?,
        _ => return Err(invalid(&key, "set exactly one of `secret` or `secret_env`")),
    };
    if secret.len() < 8 {
        return Err(invalid(
            &key,
            "the secret is shorter than 8 characters; use a long random string",
        ));
    }
    let scopes = t
        .scopes
        .iter()
        .map(|s| {
            Scope::parse(s).ok_or_else(|| {
                invalid(
                    &key,
                    format!("unknown scope `{s}`; scopes are ingest, read and admin"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if scopes.is_empty() {
        return Err(invalid(&key, "give the token at least one scope"));
    }
    if t.game.as_deref().is_some_and(str::is_empty) {
        return Err(invalid(
            &key,
            "`game` is empty; name the game or leave it out",
        ));
    }
    Ok(Token {
        name: t.name,
        secret,
        scopes,
        game: t.game,
    })
}
