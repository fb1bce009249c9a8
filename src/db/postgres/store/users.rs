//! Users, tokens and login attempts.

use super::*;

#[async_trait]
impl UserStore for PgStore {
    async fn create_user(&self, username: &str, password_hash: &str, is_admin: bool) -> DomainResult<User> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let now = now_millis();
        let row = try_query_one(
            &tx,
            &format!("INSERT INTO users (username, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4) RETURNING {USER_COLS}"),
            &[&username, &password_hash, &is_admin, &now],
        )
        .await
        .map_err(|e| conflict_or_db(e, || format!("the user name {username:?} is taken")))?;
        let user = user_from(&row)?;
        for (name, kind) in crate::domain::users::STARTER_FOLDERS {
            exec(
                &tx,
                "INSERT INTO folders (owner_id, parent_id, name, kind, created_at, updated_at) VALUES ($1, NULL, $2, $3, $4, $4)",
                &[&user.id, &name, &kind.as_str(), &now],
            )
            .await?;
        }
        Self::commit(tx, &[], false).await?;
        Ok(user)
    }

    async fn user_by_name(&self, username: &str) -> DomainResult<Option<UserWithHash>> {
        let c = self.client().await?;
        let row =
            query_opt(&c, &format!("SELECT {USER_COLS}, password_hash FROM users WHERE lower(username) = lower($1)"), &[&username]).await?;
        row.map(|r| Ok(UserWithHash { user: user_from(&r)?, password_hash: col(&r, 5)? })).transpose()
    }

    async fn user_by_id(&self, id: Id) -> DomainResult<Option<User>> {
        let c = self.client().await?;
        let row = query_opt(&c, &format!("SELECT {USER_COLS} FROM users WHERE id = $1"), &[&id]).await?;
        row.as_ref().map(user_from).transpose()
    }

    async fn list_users(&self) -> DomainResult<Vec<User>> {
        let c = self.client().await?;
        all(query(&c, &format!("SELECT {USER_COLS} FROM users ORDER BY username"), &[]).await?, user_from)
    }

    async fn count_users(&self) -> DomainResult<i64> {
        let c = self.client().await?;
        count(&c, "SELECT COUNT(*) FROM users", &[]).await
    }

    async fn update_user(
        &self,
        id: Id,
        password_hash: Option<&str>,
        is_admin: Option<bool>,
        disabled: Option<bool>,
        keep_api_tokens: bool,
    ) -> DomainResult<User> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let row = query_opt(
            &tx,
            &format!(
                "UPDATE users SET password_hash = COALESCE($2, password_hash), is_admin = COALESCE($3, is_admin), disabled = COALESCE($4, disabled) \
                 WHERE id = $1 RETURNING {USER_COLS}"
            ),
            &[&id, &password_hash, &is_admin, &disabled],
        )
        .await?
        .ok_or_else(|| DomainError::not_found(format!("user {id}")))?;
        let kinds: &[&str] = match crate::domain::users::revocation_for(password_hash.is_some(), disabled, keep_api_tokens) {
            crate::domain::users::Revocation::Nothing => &[],
            crate::domain::users::Revocation::Sessions => &["session"],
            crate::domain::users::Revocation::All => &["session", "api"],
        };
        let mut events = Vec::new();
        if !kinds.is_empty() {
            let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
            let ids: Vec<Id> = query(&tx, "DELETE FROM api_tokens WHERE user_id = $1 AND kind = ANY($2) RETURNING id", &[&id, &kinds])
                .await?
                .iter()
                .map(|r| col(r, 0))
                .collect::<DomainResult<_>>()?;
            if !ids.is_empty() {
                events.push(NewEvent::tokens_revoked(id, &ids));
            }
        }
        let user = user_from(&row)?;
        Self::commit(tx, &events, false).await?;
        Ok(user)
    }

    async fn create_token(
        &self,
        user_id: Id,
        name: &str,
        kind: TokenKind,
        token_hash: &str,
        csrf_hash: Option<&str>,
        expires_at: Option<Millis>,
    ) -> DomainResult<ApiToken> {
        let c = self.client().await?;
        let now = now_millis();
        let row = query_one(
            &c,
            "INSERT INTO api_tokens (user_id, name, kind, token_hash, csrf_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[&user_id, &name, &kind.as_str(), &token_hash, &csrf_hash, &now, &expires_at],
        )
        .await?;
        Ok(ApiToken { id: col(&row, 0)?, user_id, name: name.to_string(), kind, created_at: now, last_used_at: None, expires_at })
    }

    async fn principal_by_token(&self, token_hash: &str) -> DomainResult<Option<Principal>> {
        let c = self.client().await?;
        let now = now_millis();
        let row = query_opt(
            &c,
            "SELECT u.id, u.username, u.is_admin, u.disabled, u.created_at, t.id, t.kind, t.csrf_hash, t.last_used_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2) AND NOT u.disabled",
            &[&token_hash, &now],
        )
        .await?;
        let Some(r) = row else { return Ok(None) };
        let principal = Principal {
            user: user_from(&r)?,
            token_id: col(&r, 5)?,
            token_kind: TokenKind::parse(&col::<String>(&r, 6)?),
            csrf_hash: col(&r, 7)?,
        };
        let last_used: Option<Millis> = col(&r, 8)?;
        // Record use at most once a minute: no write on every request.
        if last_used.is_none_or(|t| now - t > 60_000) {
            let _ = exec(&c, "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1", &[&principal.token_id, &now]).await;
        }
        Ok(Some(principal))
    }

    async fn list_tokens(&self, user_id: Id, kind: TokenKind) -> DomainResult<Vec<ApiToken>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT id, user_id, name, kind, created_at, last_used_at, expires_at FROM api_tokens WHERE user_id = $1 AND kind = $2 ORDER BY id",
            &[&user_id, &kind.as_str()],
        )
        .await?;
        all(rows, |r| {
            Ok(ApiToken {
                id: col(r, 0)?,
                user_id: col(r, 1)?,
                name: col(r, 2)?,
                kind: TokenKind::parse(&col::<String>(r, 3)?),
                created_at: col(r, 4)?,
                last_used_at: col(r, 5)?,
                expires_at: col(r, 6)?,
            })
        })
    }

    async fn delete_token(&self, user_id: Id, token_id: Id) -> DomainResult<()> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        let n = exec(&tx, "DELETE FROM api_tokens WHERE id = $1 AND user_id = $2", &[&token_id, &user_id]).await?;
        if n == 0 {
            return Err(DomainError::not_found(format!("token {token_id}")));
        }
        Self::commit(tx, &[NewEvent::tokens_revoked(user_id, &[token_id])], false).await
    }

    async fn begin_login(
        &self,
        account: &str,
        source: &str,
        policy: crate::domain::login::LoginPolicy,
    ) -> DomainResult<Result<crate::domain::login::LoginAttempt, crate::domain::login::LoginDecision>> {
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        // Attempts are decided one at a time (short transactions), so parallel guesses count
        // each other.
        exec(&tx, "SELECT pg_advisory_xact_lock($1)", &[&super::super::LOGIN_LOCK]).await?;
        let now = now_millis();
        let since = now - policy.window_ms;
        exec(&tx, "DELETE FROM login_attempts WHERE at < $1", &[&since]).await?;
        let a = query_one(&tx, "SELECT COUNT(*), MIN(at) FROM login_attempts WHERE account = $1 AND at >= $2", &[&account, &since]).await?;
        let s = query_one(&tx, "SELECT COUNT(*), MAX(at) FROM login_attempts WHERE source = $1 AND at >= $2", &[&source, &since]).await?;
        let known_source = query_opt(
            &tx,
            "SELECT 1 FROM login_sources s JOIN users u ON u.id = s.user_id WHERE lower(u.username) = $1 AND s.source = $2",
            &[&account, &source],
        )
        .await?
        .is_some();
        let history = crate::domain::login::LoginHistory {
            account_failures: col(&a, 0)?,
            oldest_account_failure: col(&a, 1)?,
            source_failures: col(&s, 0)?,
            last_source_failure: col(&s, 1)?,
            known_source,
        };
        let out = match policy.decide(&history, now) {
            crate::domain::login::LoginDecision::Proceed => {
                let row = query_one(
                    &tx,
                    "INSERT INTO login_attempts (account, source, at) VALUES ($1, $2, $3) RETURNING id",
                    &[&account, &source, &now],
                )
                .await?;
                Ok(crate::domain::login::LoginAttempt { id: col(&row, 0)? })
            }
            wait => Err(wait),
        };
        tx.commit().await?;
        Ok(out)
    }

    async fn finish_login(&self, attempt: crate::domain::login::LoginAttempt, succeeded_as: Option<Id>, source: &str) -> DomainResult<()> {
        let Some(user_id) = succeeded_as else { return Ok(()) };
        let mut c = self.client().await?;
        let tx = Self::begin(&mut c).await?;
        exec(&tx, "DELETE FROM login_attempts WHERE id = $1", &[&attempt.id]).await?;
        exec(
            &tx,
            "INSERT INTO login_sources (user_id, source, last_at) VALUES ($1, $2, $3) ON CONFLICT (user_id, source) DO UPDATE SET last_at = EXCLUDED.last_at",
            &[&user_id, &source, &now_millis()],
        )
        .await?;
        tx.commit().await.map_err(DomainError::from)
    }
}
