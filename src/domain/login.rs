//! The login limiter's rules. Guessing is slowed per client address and per account, without
//! letting a stranger lock the owner out:
//!
//! - **Per source** (client address): the first `source_free` failures within the window cost
//!   nothing; after that each attempt must wait twice as long after the last failure as the one
//!   before (1 s, 2 s, 4 s … up to `max_delay_ms`).
//! - **Per account**: at most `account_limit` failures within the window from addresses the
//!   account has never logged in from; after that only its *known* addresses (where the owner
//!   logged in before) may try, so guessing from many addresses stops while the owner gets in.
//!
//! Every attempt is recorded before its password is checked, in the same transaction as the
//! decision, so parallel guesses cannot slip past the counts; a successful one is deleted again.

use super::Millis;

#[derive(Clone, Copy, Debug)]
pub struct LoginPolicy {
    pub window_ms: Millis,
    pub account_limit: i64,
    pub source_free: i64,
    pub max_delay_ms: Millis,
}

impl LoginPolicy {
    pub fn new(account_limit: u32) -> Self {
        LoginPolicy { window_ms: 15 * 60 * 1000, account_limit: account_limit.max(1) as i64, source_free: 5, max_delay_ms: 15 * 60 * 1000 }
    }

    /// Whether an attempt may check its password now, given what the store counted (inside the
    /// transaction that records the attempt).
    pub fn decide(&self, h: &LoginHistory, now: Millis) -> LoginDecision {
        if h.source_failures >= self.source_free
            && let Some(last) = h.last_source_failure
        {
            let doublings = (h.source_failures - self.source_free).min(30) as u32;
            let delay = 1000i64.saturating_mul(1i64 << doublings).min(self.max_delay_ms);
            let until = last + delay;
            if now < until {
                return LoginDecision::Wait { retry_after_ms: until - now, per: Limited::Source };
            }
        }
        if !h.known_source
            && h.account_failures >= self.account_limit
            && let Some(oldest) = h.oldest_account_failure
        {
            let until = oldest + self.window_ms;
            if now < until {
                return LoginDecision::Wait { retry_after_ms: until - now, per: Limited::Account };
            }
        }
        LoginDecision::Proceed
    }
}

/// What the store counts for one attempt: failures (recorded attempts) within the window.
#[derive(Clone, Debug, Default)]
pub struct LoginHistory {
    pub account_failures: i64,
    /// The oldest of the account's failures that count against the limit (from the window).
    pub oldest_account_failure: Option<Millis>,
    pub source_failures: i64,
    pub last_source_failure: Option<Millis>,
    /// The account has logged in from this source before.
    pub known_source: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limited {
    Source,
    Account,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginDecision {
    Proceed,
    Wait { retry_after_ms: Millis, per: Limited },
}

/// A recorded attempt that may check its password; `finish_login` says how it went.
#[derive(Clone, Copy, Debug)]
pub struct LoginAttempt {
    pub id: super::Id,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LoginPolicy {
        LoginPolicy::new(10)
    }

    #[test]
    fn a_source_backs_off_exponentially_after_its_free_failures() {
        let p = policy();
        let now = 1_000_000;
        let h = |n, last| LoginHistory { source_failures: n, last_source_failure: Some(last), ..Default::default() };
        assert_eq!(p.decide(&h(4, now), now), LoginDecision::Proceed);
        assert_eq!(p.decide(&h(5, now), now), LoginDecision::Wait { retry_after_ms: 1000, per: Limited::Source });
        assert_eq!(p.decide(&h(5, now - 1000), now), LoginDecision::Proceed);
        assert_eq!(p.decide(&h(8, now - 1000), now), LoginDecision::Wait { retry_after_ms: 7000, per: Limited::Source });
        // Capped at the maximum delay.
        assert_eq!(p.decide(&h(60, now), now), LoginDecision::Wait { retry_after_ms: 15 * 60 * 1000, per: Limited::Source });
    }

    #[test]
    fn an_account_under_attack_still_lets_its_owner_in_from_a_known_address() {
        let p = policy();
        let now = 10_000_000;
        let attacked = LoginHistory { account_failures: 10, oldest_account_failure: Some(now - 60_000), ..Default::default() };
        match p.decide(&attacked, now) {
            LoginDecision::Wait { retry_after_ms, per: Limited::Account } => assert_eq!(retry_after_ms, 14 * 60 * 1000),
            other => panic!("{other:?}"),
        }
        let owner = LoginHistory { known_source: true, ..attacked };
        assert_eq!(p.decide(&owner, now), LoginDecision::Proceed);
        let nine = LoginHistory { account_failures: 9, oldest_account_failure: Some(now), ..Default::default() };
        assert_eq!(p.decide(&nine, now), LoginDecision::Proceed);
    }
}
