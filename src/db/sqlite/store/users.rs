//! Users, tokens and login attempts.

use super::*;

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, username: &str, password_hash: &str, is_admin: bool) -> DomainResult<User> {
        let (username, hash) = (username.to_string(), password_hash.to_string());
        self.write(move |tx| {
            let now = now_millis();
            let id = match tx.execute(
                "INSERT INTO users (username, password_hash, is_admin, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![username, hash, is_admin, now],
            ) {
                Ok(_) => tx.last_insert_rowid(),
                Err(e) if is_unique_violation(&e) => {
                    return Err(DomainError::Conflict(format!("the user name {username:?} is taken")));
                }
                Err(e) => return Err(e.into()),
            };
            for (name, kind) in crate::domain::users::STARTER_FOLDERS {
                tx.execute(
                    "INSERT INTO folders (owner_id, parent_id, name, kind, created_at, updated_at) VALUES (?1, NULL, ?2, ?3, ?4, ?4)",
                    params![id, name, kind.as_str(), now],
                )?;
            }
            tx.query_row("SELECT id, username, is_admin, disabled, created_at FROM users WHERE id = ?1", params![id], user_from)
                .map_err(DomainError::from)
        })
        .await
    }

    async fn user_by_name(&self, username: &str) -> DomainResult<Option<UserWithHash>> {
        let username = username.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT id, username, is_admin, disabled, created_at, password_hash FROM users WHERE username = ?1",
                params![username],
                |r| Ok(UserWithHash { user: user_from(r)?, password_hash: r.get(5)? }),
            )
            .optional()
            .map_err(DomainError::from)
        })
        .await
    }

    async fn user_by_id(&self, id: Id) -> DomainResult<Option<User>> {
        self.read(move |c| {
            c.query_row("SELECT id, username, is_admin, disabled, created_at FROM users WHERE id = ?1", params![id], user_from)
                .optional()
                .map_err(DomainError::from)
        })
        .await
    }

    async fn list_users(&self) -> DomainResult<Vec<User>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT id, username, is_admin, disabled, created_at FROM users ORDER BY username")?;
            let users = st.query_map([], user_from)?.collect::<Result<Vec<_>, _>>()?;
            Ok(users)
        })
        .await
    }

    async fn count_users(&self) -> DomainResult<i64> {
        self.read(|c| c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0)).map_err(DomainError::from)).await
    }

    async fn update_user(
        &self,
        id: Id,
        password_hash: Option<&str>,
        is_admin: Option<bool>,
        disabled: Option<bool>,
        keep_api_tokens: bool,
    ) -> DomainResult<User> {
        let hash = password_hash.map(str::to_string);
        let user = self
            .write(move |tx| {
                let n = tx
                    .execute(
                        "UPDATE users SET password_hash = COALESCE(?2, password_hash), is_admin = COALESCE(?3, is_admin), disabled = COALESCE(?4, disabled) WHERE id = ?1",
                        params![id, hash, is_admin, disabled],
                    )
                    ?;
                if n == 0 {
                    return Err(DomainError::not_found(format!("user {id}")));
                }
                let kinds = match crate::domain::users::revocation_for(hash.is_some(), disabled, keep_api_tokens) {
                    crate::domain::users::Revocation::Nothing => None,
                    crate::domain::users::Revocation::Sessions => Some("'session'"),
                    crate::domain::users::Revocation::All => Some("'session', 'api'"),
                };
                if let Some(kinds) = kinds {
                    let mut st = tx
                        .prepare(&format!("DELETE FROM api_tokens WHERE user_id = ?1 AND kind IN ({kinds}) RETURNING id"))
                        ?;
                    let ids = st.query_map(params![id], |r| r.get::<_, Id>(0))?.collect::<Result<Vec<_>, _>>()?;
                    if !ids.is_empty() {
                        emit(tx, &NewEvent::tokens_revoked(id, &ids))?;
                    }
                }
                tx.query_row("SELECT id, username, is_admin, disabled, created_at FROM users WHERE id = ?1", params![id], user_from)
                    .map_err(DomainError::from)
            })
            .await?;
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
        let (name, token_hash, csrf_hash) = (name.to_string(), token_hash.to_string(), csrf_hash.map(str::to_string));
        self.write(move |tx| {
            let now = now_millis();
            tx.execute(
                "INSERT INTO api_tokens (user_id, name, kind, token_hash, csrf_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![user_id, name, kind.as_str(), token_hash, csrf_hash, now, expires_at],
            )
            ?;
            Ok(ApiToken { id: tx.last_insert_rowid(), user_id, name: name.clone(), kind, created_at: now, last_used_at: None, expires_at })
        })
        .await
    }

    async fn principal_by_token(&self, token_hash: &str) -> DomainResult<Option<Principal>> {
        let token_hash = token_hash.to_string();
        let now = now_millis();
        let found = self
            .read(move |c| {
                c.prepare_cached(
                    "SELECT u.id, u.username, u.is_admin, u.disabled, u.created_at, t.id, t.kind, t.csrf_hash, t.last_used_at \
                     FROM api_tokens t JOIN users u ON u.id = t.user_id \
                     WHERE t.token_hash = ?1 AND (t.expires_at IS NULL OR t.expires_at > ?2) AND u.disabled = 0",
                )
                .and_then(|mut st| {
                    st.query_row(params![token_hash, now], |r| {
                        Ok((
                            Principal {
                                user: user_from(r)?,
                                token_id: r.get(5)?,
                                token_kind: TokenKind::parse(&r.get::<_, String>(6)?),
                                csrf_hash: r.get(7)?,
                            },
                            r.get::<_, Option<Millis>>(8)?,
                        ))
                    })
                    .optional()
                })
                .map_err(DomainError::from)
            })
            .await?;
        let Some((principal, last_used)) = found else { return Ok(None) };
        // Record use at most once a minute: no write on every request.
        if last_used.is_none_or(|t| now - t > 60_000) {
            let id = principal.token_id;
            let _ = self
                .write(move |tx| {
                    tx.execute("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1", params![id, now]).map_err(DomainError::from)
                })
                .await;
        }
        Ok(Some(principal))
    }

    async fn list_tokens(&self, user_id: Id, kind: TokenKind) -> DomainResult<Vec<ApiToken>> {
        self.read(move |c| {
            let mut st = c
                .prepare("SELECT id, user_id, name, kind, created_at, last_used_at, expires_at FROM api_tokens WHERE user_id = ?1 AND kind = ?2 ORDER BY id")
                ?;
            let rows = st
                .query_map(params![user_id, kind.as_str()], |r| {
                    Ok(ApiToken {
                        id: r.get(0)?,
                        user_id: r.get(1)?,
                        name: r.get(2)?,
                        kind: TokenKind::parse(&r.get::<_, String>(3)?),
                        created_at: r.get(4)?,
                        last_used_at: r.get(5)?,
                        expires_at: r.get(6)?,
                    })
                })
                ?
                .collect::<Result<Vec<_>, _>>()
                ?;
            Ok(rows)
        })
        .await
    }

    async fn delete_token(&self, user_id: Id, token_id: Id) -> DomainResult<()> {
        self.write(move |tx| {
            let n = tx.execute("DELETE FROM api_tokens WHERE id = ?1 AND user_id = ?2", params![token_id, user_id])?;
            if n == 0 {
                return Err(DomainError::not_found(format!("token {token_id}")));
            }
            emit(tx, &NewEvent::tokens_revoked(user_id, &[token_id]))
        })
        .await?;
        Ok(())
    }

    async fn begin_login(
        &self,
        account: &str,
        source: &str,
        policy: crate::domain::login::LoginPolicy,
    ) -> DomainResult<Result<crate::domain::login::LoginAttempt, crate::domain::login::LoginDecision>> {
        let (account, source) = (account.to_string(), source.to_string());
        self.write(move |tx| {
            let now = now_millis();
            let since = now - policy.window_ms;
            tx.execute("DELETE FROM login_attempts WHERE at < ?1", params![since])?;
            let (account_failures, oldest_account_failure): (i64, Option<Millis>) = tx.query_row(
                "SELECT COUNT(*), MIN(at) FROM login_attempts WHERE account = ?1 AND at >= ?2",
                params![account, since],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let (source_failures, last_source_failure): (i64, Option<Millis>) =
                tx.query_row("SELECT COUNT(*), MAX(at) FROM login_attempts WHERE source = ?1 AND at >= ?2", params![source, since], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            let known_source = tx
                .query_row(
                    "SELECT 1 FROM login_sources s JOIN users u ON u.id = s.user_id WHERE lower(u.username) = ?1 AND s.source = ?2",
                    params![account, source],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            let history = crate::domain::login::LoginHistory {
                account_failures,
                oldest_account_failure,
                source_failures,
                last_source_failure,
                known_source,
            };
            match policy.decide(&history, now) {
                crate::domain::login::LoginDecision::Proceed => {
                    tx.execute("INSERT INTO login_attempts (account, source, at) VALUES (?1, ?2, ?3)", params![account, source, now])?;
                    Ok(Ok(crate::domain::login::LoginAttempt { id: tx.last_insert_rowid() }))
                }
                wait => Ok(Err(wait)),
            }
        })
        .await
    }

    async fn finish_login(&self, attempt: crate::domain::login::LoginAttempt, succeeded_as: Option<Id>, source: &str) -> DomainResult<()> {
        let Some(user_id) = succeeded_as else { return Ok(()) };
        let source = source.to_string();
        self.write(move |tx| {
            tx.execute("DELETE FROM login_attempts WHERE id = ?1", params![attempt.id])?;
            tx.execute(
                "INSERT INTO login_sources (user_id, source, last_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (user_id, source) DO UPDATE SET last_at = excluded.last_at",
                params![user_id, source, now_millis()],
            )?;
            Ok(())
        })
        .await
    }
}
