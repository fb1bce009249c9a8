//! Admin verbs: `user …`, `check`, `ocr FILE`.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use crate::app::{AppContext, AppError};
use crate::cli::{OcrArgs, UserCommand};
use crate::config::Settings;

fn read_password(given: Option<String>) -> Result<String, AppError> {
    if let Some(p) = given {
        return Ok(p);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password: ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).map_err(|e| AppError::Runtime(format!("cannot read the password from standard input: {e}")))?;
    let p = line.trim_end_matches(['\n', '\r']).to_string();
    if p.is_empty() {
        return Err(AppError::Config("no password given: pass --password or write it to standard input".into()));
    }
    Ok(p)
}

pub async fn user_command(ctx: &AppContext, cmd: UserCommand) -> Result<(), AppError> {
    let store = &ctx.store;
    match cmd {
        UserCommand::Add { name, password, admin } => {
            crate::domain::users::validate_username(&name).map_err(|e| AppError::Config(e.to_string()))?;
            let password = read_password(password)?;
            crate::auth::validate_password(&password).map_err(|e| AppError::Config(e.to_string()))?;
            let hash = crate::auth::hash_password(&password)?;
            let user = store.create_user(&name, &hash, admin).await.map_err(|e| AppError::Config(e.to_string()))?;
            println!("created user {} (id {}){}", user.username, user.id, if admin { ", administrator" } else { "" });
        }
        UserCommand::List => {
            let users = store.list_users().await?;
            println!("{:<6} {:<24} {:<6} {:<9} created", "id", "name", "admin", "disabled");
            for u in users {
                let created = chrono::DateTime::from_timestamp_millis(u.created_at).map(|d| d.to_rfc3339()).unwrap_or_default();
                println!("{:<6} {:<24} {:<6} {:<9} {}", u.id, u.username, u.is_admin, u.disabled, created);
            }
        }
        UserCommand::Passwd { name, password, keep_tokens } => {
            let user = store.user_by_name(&name).await?.ok_or_else(|| AppError::Config(format!("there is no user named {name:?}")))?;
            let password = read_password(password)?;
            crate::auth::validate_password(&password).map_err(|e| AppError::Config(e.to_string()))?;
            let hash = crate::auth::hash_password(&password)?;
            store.update_user(user.user.id, Some(&hash), None, None, keep_tokens).await?;
            if keep_tokens {
                println!("password of {name} changed; their browser sessions were ended, their API tokens kept");
            } else {
                println!("password of {name} changed; their browser sessions and API tokens were ended");
            }
        }
        UserCommand::Disable { name, enable } => {
            let user = store.user_by_name(&name).await?.ok_or_else(|| AppError::Config(format!("there is no user named {name:?}")))?;
            store.update_user(user.user.id, None, None, Some(!enable), false).await?;
            println!("{name} is {}", if enable { "enabled" } else { "disabled; their sessions and tokens no longer work" });
        }
    }
    Ok(())
}

/// Prints the effective settings (secrets redacted) and checks each dependency: one line each,
/// `OK …` or a sentence saying what to do (`WARN` for overdue scheduled backups). Exit 0 when all pass, 2 when the settings or the
/// database are wrong, 1 for other failures.
/// `docmerge llm-prompt`: the instructions and an example request, as the settings make them.
pub fn llm_prompt(settings: &Settings) -> Result<(), AppError> {
    let l = &settings.llm;
    let instructions = l.instructions().map_err(AppError::Config)?;
    let example = crate::domain::llm::example(&l.prompt_settings(&instructions)).map_err(AppError::Config)?;
    let state = if l.enabled() {
        format!("on: {} (model {:?})", crate::config::redact_url(l.chat_url().as_str()), l.model)
    } else {
        "off ([llm] endpoint is empty): nothing is sent".to_string()
    };
    let source = if l.instructions_file.trim().is_empty() { "built in".to_string() } else { l.instructions_file.trim().to_string() };
    println!("# language model: {state}");
    println!("# instructions ({source}):\n{instructions}\n");
    println!("# an example request (POST, JSON), for a made-up document and vocabulary:");
    println!("{}", serde_json::to_string_pretty(&example.body).unwrap_or_default());
    Ok(())
}

pub async fn check(settings: Settings) -> Result<ExitCode, AppError> {
    println!("# effective settings (secrets redacted)\n{}", settings.to_redacted_toml());
    let mut worst = 0u8;
    let url = settings.database_url();
    let shown = crate::config::redact_url(&url);
    // Before the first start there is nothing to check yet, and that is fine: `all`, `serve`
    // and `migrate` create the schema. (Checking must not create the SQLite file either.)
    let not_created = format!("OK   database {shown} not created yet; `docmerge all` or `docmerge migrate` will create it");
    let sqlite_missing = url.strip_prefix("sqlite://").is_some_and(|p| !std::path::Path::new(p).exists());
    let store = if sqlite_missing { None } else { crate::db::connect(&url, 1).await.map(Some).transpose() };
    match store {
        None => println!("{not_created}"),
        Some(Ok(store)) => match store.migration_status().await {
            Ok((a, k)) if a == k => println!("OK   database {shown} reachable, schema current ({a} migrations)"),
            Ok((0, _)) => println!("{not_created}"),
            Ok((a, k)) => {
                println!(
                    "WARN database reachable, schema at {a} of {k} migrations: `docmerge all`, `serve` or `migrate` applies the rest \
                     (workers wait for that)"
                );
                worst = worst.max(1);
            }
            Err(e) => {
                println!("FAIL database {shown}: {e}. Check database.url.");
                worst = 2;
            }
        },
        Some(Err(e)) => {
            println!("FAIL cannot connect to the database {shown}: {e}. Check database.url (DOCMERGE__DATABASE__URL).");
            worst = 2;
        }
    }
    if !sqlite_missing
        && let Ok(store) = crate::db::connect(&url, 1).await
        && let Ok(status) = store.archive().backup_status().await
    {
        match crate::archive::backup::check_line(&settings, &status, crate::domain::now_millis()) {
            (true, line) => println!("OK   {line}"),
            (false, line) => {
                println!("WARN {line}");
                worst = worst.max(1);
            }
        }
    }
    match crate::storage::BlobStore::open(&settings.storage.root).and_then(|b| b.check_writable()) {
        Ok(()) => println!("OK   storage root {} is writable", settings.storage.root.display()),
        Err(e) => {
            println!("FAIL {e}. Set storage.root to a writable directory.");
            worst = worst.max(1);
        }
    }
    let mut runtime_missing = false;
    for (item, result) in crate::pipeline::check_runtime(&settings) {
        match result {
            Ok(place) => println!("OK   {item}: {place}"),
            Err(todo) => {
                println!("FAIL {item}: {todo}");
                runtime_missing = true;
                worst = worst.max(1);
            }
        }
    }
    if runtime_missing {
        println!("     To fix: {}", crate::pipeline::RUNTIME_FIX_HINT);
    }
    Ok(ExitCode::from(worst))
}

pub async fn ocr_file(settings: Settings, args: OcrArgs) -> Result<(), AppError> {
    crate::pipeline::ocr_file(&settings, &args.file, args.output.as_deref(), args.text || args.output.is_none()).await
}
