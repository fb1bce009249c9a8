//! Rules for accounts.

use super::DomainError;

pub fn validate_username(name: &str) -> Result<(), DomainError> {
    let ok_chars = name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if name.is_empty() || name.chars().count() > 64 || !ok_chars {
        return Err(DomainError::Invalid("a user name has 1 to 64 characters: letters, digits, '.', '_', '-' or '@'".into()));
    }
    Ok(())
}

/// The folders every account starts with: the root of the tree, and where uploads land
/// unless told otherwise. Neither can be renamed, moved or trashed.
pub const STARTER_FOLDERS: [(&str, super::FolderKind); 2] = [("Home", super::FolderKind::Home), ("Inbox", super::FolderKind::Inbox)];

/// Which of a user's tokens an account change ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    Nothing,
    /// Browser sessions only (an administrator chose to keep the user's API tokens).
    Sessions,
    /// Sessions and API tokens.
    All,
}

/// A disabled account keeps nothing. A new password ends every session and, unless
/// `keep_api_tokens` was asked for, every API token too: whoever knew the old password may have
/// made one.
pub fn revocation_for(password_changed: bool, disabled: Option<bool>, keep_api_tokens: bool) -> Revocation {
    if disabled == Some(true) {
        Revocation::All
    } else if password_changed && keep_api_tokens {
        Revocation::Sessions
    } else if password_changed {
        Revocation::All
    } else {
        Revocation::Nothing
    }
}

/// A name a person can see: not empty, no control characters, and at least one character that
/// is not white space or an invisible format character (zero-width joiner, BOM, ...).
pub fn validate_visible_name(what: &str, name: &str, max_chars: usize) -> Result<(), DomainError> {
    let count = name.chars().count();
    if count == 0 || count > max_chars {
        return Err(DomainError::Invalid(format!("a {what} needs 1 to {max_chars} characters")));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(DomainError::Invalid(format!("a {what} cannot contain control characters")));
    }
    if !name.chars().any(|c| !c.is_whitespace() && !is_invisible(c)) {
        return Err(DomainError::Invalid(format!("a {what} needs at least one visible character")));
    }
    Ok(())
}

/// Characters that take no space on screen (Unicode format characters and the like).
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}' | '\u{180b}'..='\u{180f}'
        | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}'
        | '\u{feff}' | '\u{ffa0}' | '\u{fff0}'..='\u{fff8}' | '\u{1d173}'..='\u{1d17a}' | '\u{e0000}'..='\u{e0fff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_password_ends_tokens_unless_kept() {
        assert_eq!(revocation_for(true, None, false), Revocation::All);
        assert_eq!(revocation_for(true, None, true), Revocation::Sessions);
        assert_eq!(revocation_for(false, Some(true), true), Revocation::All);
        assert_eq!(revocation_for(false, Some(false), false), Revocation::Nothing);
        assert_eq!(revocation_for(false, None, false), Revocation::Nothing);
    }

    #[test]
    fn invisible_names_are_refused() {
        for bad in ["", " ", "\u{200d}", "\u{200b}\u{feff}", " \u{2060} ", "a\nb", "\u{e0041}"] {
            assert!(validate_visible_name("tag name", bad, 100).is_err(), "{bad:?}");
        }
        for good in ["tax", "Steuer 2024", "税金", "😀", "a\u{200d}b"] {
            assert!(validate_visible_name("tag name", good, 100).is_ok(), "{good:?}");
        }
        assert!(validate_visible_name("tag name", &"x".repeat(101), 100).is_err());
    }
}
