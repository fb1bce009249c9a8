//! Rules for accounts.

use super::DomainError;

pub fn validate_username(name: &str) -> Result<(), DomainError> {
    let ok_chars = name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if name.is_empty() || name.chars().count() > 64 || !ok_chars {
        return Err(DomainError::Invalid(
            "a user name has 1 to 64 characters: letters, digits, '.', '_', '-' or '@'".into(),
        ));
    }
    Ok(())
}
