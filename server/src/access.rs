//! Share links and what each role may do, enforced here and nowhere else.
//!
//! A link is an unguessable token (256 random bits) that the server only
//! keeps as a SHA-256 hash: a leaked database opens no project. The role
//! decides which documents a connection may change: an editor both, a
//! commenter `review` only, a listener neither.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use stemroom_model::DocKind;

use crate::store::{LinkRecord, Store};

/// What a link lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Created the project: edits, and manages its links.
    Owner,
    Edit,
    Comment,
    Listen,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Edit => "edit",
            Role::Comment => "comment",
            Role::Listen => "listen",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Owner, Role::Edit, Role::Comment, Role::Listen]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    /// Whether this role may change `doc`.
    pub fn can_write(self, doc: DocKind) -> bool {
        match self {
            Role::Owner | Role::Edit => true,
            Role::Comment => doc == DocKind::Review,
            Role::Listen => false,
        }
    }

    /// Whether this role may upload audio to the project.
    pub fn can_upload(self) -> bool {
        self.can_write(DocKind::Project)
    }

    pub fn can_manage_links(self) -> bool {
        self == Role::Owner
    }
}

/// Fills `bytes` from the operating system's secure generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes).expect("the operating system has no random source");
    bytes
}

/// A new secret link token: 256 bits, URL-safe.
pub fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A new public identifier (projects, links): 96 bits, URL-safe.
pub fn new_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<12>())
}

/// How tokens are stored and looked up.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A link's holder, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub project: String,
    pub role: Role,
    pub link: String,
}

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// No token was given.
    Missing,
    /// The token is not one this server issued for this project.
    Invalid,
    Expired,
    Revoked,
    /// The link is valid but its role does not allow this.
    Forbidden(&'static str),
}

impl Denied {
    /// The message a client shows.
    pub fn message(&self) -> String {
        match self {
            Denied::Missing => "this request needs a project link".into(),
            Denied::Invalid => "this link is not valid".into(),
            Denied::Expired => "this link has expired; ask the project owner for a new one".into(),
            Denied::Revoked => "this link was revoked; ask the project owner for a new one".into(),
            Denied::Forbidden(what) => format!("this link does not allow {what}"),
        }
    }
}

/// Checks `token` for `project` at time `now`.
pub fn authorize(
    store: &Store,
    project: &str,
    token: Option<&str>,
    now: i64,
) -> anyhow::Result<Result<Grant, Denied>> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(Err(Denied::Missing));
    };
    let Some(link) = store.link_by_token_hash(&token_hash(token))? else {
        return Ok(Err(Denied::Invalid));
    };
    Ok(check(&link, project, now))
}

/// The rules, apart from storage.
pub fn check(link: &LinkRecord, project: &str, now: i64) -> Result<Grant, Denied> {
    if link.project != project {
        return Err(Denied::Invalid);
    }
    if link.revoked_at.is_some() {
        return Err(Denied::Revoked);
    }
    if link.expires_at.is_some_and(|at| at <= now) {
        return Err(Denied::Expired);
    }
    let role = Role::parse(&link.role).ok_or(Denied::Invalid)?;
    Ok(Grant {
        project: link.project.clone(),
        role,
        link: link.id.clone(),
    })
}

/// A new link record and its secret token (shown once, never stored).
pub fn new_link(
    project: &str,
    role: Role,
    label: &str,
    expires_at: Option<i64>,
) -> (LinkRecord, String) {
    let token = new_token();
    let record = LinkRecord {
        id: new_id(),
        project: project.to_string(),
        token_hash: token_hash(&token),
        role: role.as_str().to_string(),
        label: label.to_string(),
        created_at: now(),
        expires_at,
        revoked_at: None,
        shared_by: String::new(),
    };
    (record, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_write_exactly_their_documents() {
        use DocKind::{Project, Review};
        let table = [
            (Role::Owner, true, true),
            (Role::Edit, true, true),
            (Role::Comment, false, true),
            (Role::Listen, false, false),
        ];
        for (role, project, review) in table {
            assert_eq!(role.can_write(Project), project, "{role:?}");
            assert_eq!(role.can_write(Review), review, "{role:?}");
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
    }

    #[test]
    fn tokens_are_long_random_and_stored_only_as_hashes() {
        let a = new_token();
        assert_eq!(a.len(), 43, "256 bits in base64url");
        assert_ne!(a, new_token());
        let (record, token) = new_link("p", Role::Edit, "", None);
        assert_eq!(record.token_hash, token_hash(&token));
        assert_ne!(record.token_hash, token_hash(&a));
    }

    #[test]
    fn expiry_revocation_and_project_are_checked() {
        let (mut link, _) = new_link("p", Role::Comment, "", Some(1000));
        assert_eq!(check(&link, "p", 999).unwrap().role, Role::Comment);
        assert_eq!(check(&link, "p", 1000), Err(Denied::Expired));
        assert_eq!(check(&link, "q", 999), Err(Denied::Invalid));
        link.revoked_at = Some(5);
        assert_eq!(check(&link, "p", 999), Err(Denied::Revoked));
    }
}
