//! Bearer tokens with scopes (SPEC §7): `ingest`, `read`, `admin` (admin implies the others).

use std::collections::HashMap;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Send events.
    Ingest,
    /// Read events, contests, budgets, metrics and streams.
    Read,
    /// Everything, including administration.
    Admin,
}

impl Scope {
    /// Parses `ingest|read|admin`.
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "ingest" => Some(Scope::Ingest),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    /// Name as in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

/// One configured token.
#[derive(Debug, Clone)]
pub struct Token {
    /// Name (logs and errors; never the secret).
    pub name: String,
    /// The bearer secret.
    pub secret: String,
    /// Granted scopes.
    pub scopes: Vec<Scope>,
    /// The one game this token may send (and the game of its lines that name none).
    pub game: Option<String>,
}

impl Token {
    fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }
}

/// The configured tokens, by secret.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_secret: HashMap<String, Token>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No token, or one that is not configured (401).
    Unauthenticated(&'static str),
    /// A valid token without the scope (403).
    Forbidden {
        /// The token's name.
        token: String,
        /// The scope needed.
        needs: Scope,
    },
}

impl Tokens {
    /// Tokens from the config.
    pub fn new(tokens: Vec<Token>) -> Self {
        Tokens {
            by_secret: tokens.into_iter().map(|t| (t.secret.clone(), t)).collect(),
        }
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.by_secret.len()
    }

    /// Whether no token is configured (open access; loopback only).
    pub fn is_empty(&self) -> bool {
        self.by_secret.is_empty()
    }

    /// Checks a presented secret (from `Authorization: Bearer` or `?token=`) for `scope`: the
    /// token it is (`None` in open access).
    pub fn check(&self, presented: Option<&str>, scope: Scope) -> Result<Option<&Token>, Denied> {
        if self.is_empty() {
            return Ok(None);
        }
        let Some(secret) = presented else {
            return Err(Denied::Unauthenticated(
                "no token: send `Authorization: Bearer <token>` (or `?token=` for EventSource)",
            ));
        };
        // Compare every configured secret in constant time per byte, so timing does not tell
        // how much of a guess was right.
        let found = self
            .by_secret
            .values()
            .find(|t| constant_time_eq(t.secret.as_bytes(), secret.as_bytes()));
        match found {
            None => Err(Denied::Unauthenticated(
                "unknown token: check the secret against the collector's [[tokens]]",
            )),
            Some(t) if t.allows(scope) => Ok(Some(t)),
            Some(t) => Err(Denied::Forbidden {
                token: t.name.clone(),
                needs: scope,
            }),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        let t = |name: &str, scopes: Vec<Scope>| Token {
            name: name.into(),
            secret: format!("secret-{name}"),
            scopes,
            game: None,
        };
        Tokens::new(vec![
            t("game", vec![Scope::Ingest]),
            t("dash", vec![Scope::Read]),
            t("ops", vec![Scope::Admin]),
        ])
    }

    #[test]
    fn scope_matrix() {
        let t = tokens();
        let ok = |secret: &str, scope| t.check(Some(secret), scope).is_ok();
        assert!(ok("secret-game", Scope::Ingest));
        assert!(!ok("secret-game", Scope::Read));
        assert!(ok("secret-dash", Scope::Read));
        assert!(!ok("secret-dash", Scope::Ingest));
        for scope in [Scope::Ingest, Scope::Read, Scope::Admin] {
            assert!(ok("secret-ops", scope), "admin implies {scope:?}");
        }
        assert!(matches!(
            t.check(None, Scope::Read),
            Err(Denied::Unauthenticated(_))
        ));
        assert!(matches!(
            t.check(Some("nope"), Scope::Read),
            Err(Denied::Unauthenticated(_))
        ));
        assert!(Tokens::default().check(None, Scope::Admin).is_ok());
    }
}
