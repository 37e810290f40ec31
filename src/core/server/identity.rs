//! The rules for the names that identify an account: usernames (login, user records, the demo
//! user) and subjects (`sub` of every token). The service applies them to requests and the
//! configuration to `DEMO_USER`; neither depends on the other for them.

use crate::core::server::error::AuthError;

/// Longest username accepted (bytes).
pub const MAX_USERNAME_LEN: usize = 64;
/// Longest subject accepted (bytes).
pub const MAX_SUB_LEN: usize = 256;

/// True when `username` is 1 to [`MAX_USERNAME_LEN`] of `A-Z a-z 0-9 . _ @ -`.
pub fn is_valid_username(username: &str) -> bool {
    (1..=MAX_USERNAME_LEN).contains(&username.len())
        && username
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._@-".contains(&c))
}

/// Checks a username ([`is_valid_username`]); `invalid_request` otherwise.
pub fn check_username(username: &str) -> Result<(), AuthError> {
    if is_valid_username(username) {
        Ok(())
    } else {
        Err(AuthError::InvalidRequest(
            "username must be 1-64 characters of A-Z a-z 0-9 . _ @ -",
        ))
    }
}

/// Checks a subject: 1 to [`MAX_SUB_LEN`] bytes, no control characters.
pub fn check_sub(sub: &str) -> Result<(), AuthError> {
    if sub.is_empty() || sub.len() > MAX_SUB_LEN || sub.chars().any(char::is_control) {
        return Err(AuthError::InvalidRequest(
            "sub must be 1-256 bytes without control characters",
        ));
    }
    Ok(())
}
