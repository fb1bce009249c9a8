//! Workflow jobs (#23): `run_workflows` (a trigger's workflows on one document, in order),
//! `deliver` (one attempt at a webhook or email) and `scan_scheduled_workflows`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::kinds;
use super::runner::{JobError, JobHandler, Outcome, Registry};
use crate::app::AppContext;
use crate::config::{SmtpSettings, WorkflowSettings};
use crate::domain::jobs::{ClaimedJob, JobSpec, Lease, NewJob};
use crate::domain::store::{NewRun, Store};
use crate::domain::workflows::{self, Attempt, PendingDelivery, Plan, SCAN_CHUNK};
use crate::domain::{DomainError, now_millis};
use crate::storage::BlobStore;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

struct RunJob {
    store: Arc<dyn Store>,
}

#[async_trait]
impl JobHandler for RunJob {
    async fn run(&self, job: &ClaimedJob, _lease: &Lease) -> Result<Outcome, JobError> {
        let JobSpec::RunWorkflows(args) = &job.spec else {
            return Err(super::unexpected_job(job, kinds::RUN_WORKFLOWS));
        };
        let scheduled = args.trigger == "scheduled";
        let all = self.store.workflows(args.owner_id).await?;
        let chosen: Vec<_> = all
            .into_iter()
            .filter(|w| w.spec.enabled && w.spec.trigger.kind() == args.trigger && args.workflow_id.is_none_or(|id| id == w.id))
            .collect();
        // A scheduled workflow runs once per document; the others once per event (this job).
        let event_key = if scheduled { "scheduled".to_string() } else { format!("job:{}", job.id) };
        for w in chosen {
            // Each workflow sees the document as the ones before it left it.
            let facts = match self.store.workflow_facts(args.owner_id, args.document_id).await {
                Ok(f) => f,
                Err(DomainError::NotFound(_)) => return Ok(Outcome::Done),
                Err(e) => return Err(e.into()),
            };
            if facts.doc.trashed_at.is_some() {
                break;
            }
            let run = |outcome: &'static str, error: Option<String>| NewRun {
                workflow_id: w.id,
                workflow_name: w.spec.name.clone(),
                document_id: args.document_id,
                trigger: args.trigger.clone(),
                event_key: event_key.clone(),
                outcome,
                error,
            };
            let passed = workflows::check(&w.spec.filters, &facts).iter().all(|c| c.passed);
            if !passed {
                if scheduled {
                    // Recorded so the scan does not offer the document again.
                    self.store.apply_workflow(args.owner_id, &run("skipped", None), &Plan::default()).await?;
                }
                continue;
            }
            if let Some(due) = workflows::due_day(&w.spec.trigger, &facts)
                && due > chrono::Utc::now().date_naive()
            {
                // The date moved since the scan: the next scan finds it again when it is due.
                continue;
            }
            let plan = workflows::plan(&w, &args.trigger, &facts, now_millis());
            match self.store.apply_workflow(args.owner_id, &run("applied", None), &plan).await {
                Ok(_) => {}
                Err(e) if e.is_transient() => return Err(e.into()),
                Err(e) => {
                    // What it asked for cannot be done (a folder gone to the trash, a value the
                    // field does not take): the run says so, and the next workflows go on.
                    tracing::warn!(workflow = w.id, document = args.document_id, error = %e, "a workflow failed");
                    let failed = Plan { steps: plan.steps.clone(), ..Plan::default() };
                    self.store.apply_workflow(args.owner_id, &run("failed", Some(e.to_string())), &failed).await?;
                }
            }
        }
        Ok(Outcome::Done)
    }
}

struct ScanJob {
    store: Arc<dyn Store>,
}

#[async_trait]
impl JobHandler for ScanJob {
    async fn run(&self, job: &ClaimedJob, _lease: &Lease) -> Result<Outcome, JobError> {
        let JobSpec::ScanScheduledWorkflows(_) = &job.spec else {
            return Err(super::unexpected_job(job, kinds::SCAN_SCHEDULED_WORKFLOWS));
        };
        let due = self.store.scheduled_due(chrono::Utc::now().date_naive(), SCAN_CHUNK).await?;
        let n = due.len();
        let jobs = due.into_iter().map(|(owner, w, doc)| NewJob::run_workflows(owner, doc, "scheduled", Some(w))).collect();
        self.store.enqueue(jobs).await?;
        if n == SCAN_CHUNK {
            // More may be due: look again soon (the runs queued now are excluded by their keys).
            self.store.enqueue(vec![scan_job(now_millis() + 30_000)]).await?;
        }
        tracing::debug!(queued = n, "scheduled workflows");
        Ok(Outcome::Done)
    }
}

/// The scheduled scan, one queued at a time.
pub fn scan_job(at: crate::domain::Millis) -> NewJob {
    NewJob::new(JobSpec::ScanScheduledWorkflows(crate::domain::jobs::NoArgs {}))
        .unique("scan_scheduled_workflows")
        .priority(-5)
        .max_attempts(3)
        .run_after(at)
}

struct DeliverJob {
    store: Arc<dyn Store>,
    blobs: BlobStore,
    settings: WorkflowSettings,
    smtp: SmtpSettings,
    /// The webhook client, or why it could not be made (every webhook fails with that).
    http: Result<HttpClient, String>,
}

#[async_trait]
impl JobHandler for DeliverJob {
    async fn run(&self, job: &ClaimedJob, lease: &Lease) -> Result<Outcome, JobError> {
        let JobSpec::Deliver(args) = &job.spec else {
            return Err(super::unexpected_job(job, kinds::DELIVER));
        };
        let Some(d) = self.store.delivery(args.delivery_id).await? else { return Ok(Outcome::Done) };
        if d.view.state != "pending" {
            return Ok(Outcome::Done);
        }
        let result = match d.view.kind.as_str() {
            "webhook" => self.webhook(&d).await,
            "email" => self.email(&d).await,
            other => Err((None, format!("unknown delivery kind {other:?}"), false)),
        };
        let attempt = match result {
            Ok(status) => Attempt::Delivered { status },
            Err((status, error, retry)) => {
                let retry_at = if retry {
                    workflows::next_attempt(&self.settings.retry_schedule_secs, d.view.attempts + 1, now_millis())
                } else {
                    None
                };
                tracing::info!(delivery = d.view.id, kind = %d.view.kind, error = %error, retry_at, "a delivery attempt failed");
                Attempt::Failed { status, error, retry_at }
            }
        };
        Ok(Outcome::CompletedInTransaction(self.store.record_attempt(lease, d.view.id, &attempt).await?))
    }
}

/// How an attempt failed: the HTTP status if any, the reason, and whether another try may help.
type Failure = (Option<i32>, String, bool);

impl DeliverJob {
    /// The file a delivery sends along, if it asked for one and it is small enough.
    fn attachment(&self, d: &PendingDelivery) -> Result<Option<(String, String, Vec<u8>)>, Failure> {
        let Some(f) = d.request.get("file").filter(|f| !f.is_null()) else { return Ok(None) };
        let (Some(sha), name, mime) = (
            f.get("sha256").and_then(|v| v.as_str()),
            f.get("name").and_then(|v| v.as_str()).unwrap_or("document"),
            f.get("mime").and_then(|v| v.as_str()).unwrap_or("application/octet-stream"),
        ) else {
            return Ok(None);
        };
        let size = f.get("size").and_then(|v| v.as_i64()).unwrap_or(0);
        if size > workflows::MAX_ATTACHED_BYTES {
            return Ok(None);
        }
        match std::fs::read(self.blobs.path(sha)) {
            Ok(bytes) => Ok(Some((name.to_string(), mime.to_string(), bytes))),
            Err(e) => Err((None, format!("the document's file cannot be read: {e}"), true)),
        }
    }

    async fn webhook(&self, d: &PendingDelivery) -> Result<Option<i32>, Failure> {
        use base64::Engine;
        let url = d.request.get("url").and_then(|v| v.as_str()).unwrap_or_default();
        let secret = d.request.get("secret").and_then(|v| v.as_str()).unwrap_or_default();
        let mut body = d.request.get("body").cloned().unwrap_or_default();
        let wants_file = d.request.get("file").is_some_and(|f| !f.is_null());
        if wants_file && let Some(data) = body.get_mut("data").and_then(|v| v.as_object_mut()) {
            match self.attachment(d)? {
                Some((name, mime, bytes)) => {
                    let content = base64::engine::general_purpose::STANDARD.encode(bytes);
                    data.insert("file".into(), serde_json::json!({"name": name, "mime": mime, "content_base64": content}));
                }
                None => {
                    let why = format!("larger than {} MB", workflows::MAX_ATTACHED_BYTES / (1024 * 1024));
                    data.insert("file".into(), serde_json::json!({"omitted": why}));
                }
            }
        }
        let bytes = serde_json::to_vec(&body).map_err(|e| (None, e.to_string(), false))?;
        let ts = chrono::Utc::now().timestamp();
        let Some(signature) = workflows::sign(secret, &d.view.message_id, ts, &bytes) else {
            return Err((None, "the webhook's secret is not usable".into(), false));
        };
        let http = self.http.as_ref().map_err(|e| (None, e.clone(), false))?;
        let request = hyper::Request::post(url)
            .header("content-type", "application/json")
            .header("user-agent", concat!("docmerge/", env!("CARGO_PKG_VERSION")))
            .header("webhook-id", &d.view.message_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| (None, format!("{} is not a usable address: {e}", redact(url)), false))?;
        let limit = Duration::from_secs(self.settings.timeout_secs);
        let answer = tokio::time::timeout(limit, async {
            let resp = http.request(request).await?;
            let status = resp.status();
            // What the receiver says, for the delivery's status (a little of it).
            let text = Limited::new(resp.into_body(), 4096).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            Ok::<_, hyper_util::client::legacy::Error>((status, text))
        })
        .await;
        match answer {
            Ok(Ok((status, text))) => {
                let code = Some(status.as_u16() as i32);
                if status.is_success() {
                    Ok(code)
                } else {
                    let text: String = String::from_utf8_lossy(&text).chars().take(200).collect();
                    // 410 Gone: the receiver says never again.
                    Err((code, format!("the receiver answered {status}: {}", text.trim()), status.as_u16() != 410))
                }
            }
            Ok(Err(e)) => Err((None, format!("could not reach {}: {}", redact(url), describe(&e)), true)),
            Err(_) => Err((None, format!("could not reach {}: no answer within {} s", redact(url), limit.as_secs()), true)),
        }
    }

    async fn email(&self, d: &PendingDelivery) -> Result<Option<i32>, Failure> {
        use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType};
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::transport::smtp::client::{Tls, TlsParameters};
        use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
        let smtp = &self.smtp;
        if !smtp.configured() {
            return Err((None, "no SMTP server is configured ([smtp] host)".into(), false));
        }
        let fail = |m: String| (None, m, false);
        let from: Mailbox = smtp.from.parse().map_err(|e| fail(format!("smtp.from: {e}")))?;
        let mut msg = Message::builder().from(from).message_id(Some(format!("<{}@docmerge>", d.view.message_id)));
        for to in d.request.get("to").and_then(|v| v.as_array()).into_iter().flatten() {
            let to: Mailbox = to.as_str().unwrap_or_default().parse().map_err(|e| fail(format!("recipient: {e}")))?;
            msg = msg.to(to);
        }
        let subject = d.request.get("subject").and_then(|v| v.as_str()).unwrap_or("docmerge");
        let text = d.request.get("body").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let msg = msg.subject(subject);
        let body = SinglePart::plain(text);
        let msg = match self.attachment(d)? {
            Some((name, mime, bytes)) => {
                let ct = ContentType::parse(&mime).unwrap_or(ContentType::parse("application/octet-stream").expect("a content type"));
                msg.multipart(MultiPart::mixed().singlepart(body).singlepart(Attachment::new(name).body(bytes, ct)))
            }
            None => msg.singlepart(body),
        }
        .map_err(|e| fail(format!("the email could not be made: {e}")))?;
        let mut tls = TlsParameters::builder(smtp.host.clone());
        if let Some(ca) = self.settings.ca_path() {
            let pem = std::fs::read(ca).map_err(|e| fail(format!("workflows.ca_file {}: {e}", ca.display())))?;
            let cert = lettre::transport::smtp::client::Certificate::from_pem(&pem).map_err(|e| fail(format!("workflows.ca_file: {e}")))?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = tls.build_rustls().map_err(|e| fail(format!("TLS set-up failed: {e}")))?;
        let mode = match smtp.security.as_str() {
            "tls" => Tls::Wrapper(tls),
            "none" => Tls::None,
            _ => Tls::Required(tls),
        };
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .tls(mode)
            .timeout(Some(Duration::from_secs(self.settings.timeout_secs)));
        if !smtp.username.is_empty() {
            transport = transport.credentials(Credentials::new(smtp.username.clone(), smtp.password.clone()));
        }
        match transport.build().send(msg).await {
            Ok(resp) => Ok(Some(u16::from(resp.code()) as i32)),
            Err(e) => {
                let permanent = e.is_permanent();
                Err((e.status().map(|c| u16::from(c) as i32), format!("the SMTP server {}:{}: {e}", smtp.host, smtp.port), !permanent))
            }
        }
    }
}

/// A URL as logs and statuses show it: without a user or password.
pub(super) fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host_and_path = rest.split_once('@').filter(|(a, _)| !a.contains('/')).map(|(_, b)| b).unwrap_or(rest);
            format!("{scheme}://{host_and_path}")
        }
        None => url.to_string(),
    }
}

/// A request error in words, its causes included (the client's own message is terse).
pub(super) fn describe(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out = format!("{out}: {s}");
        src = s.source();
    }
    out
}

/// The HTTP client webhooks go out through.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The HTTP client webhooks (and language-model requests) go out through: http or https (the
/// system's trusted certificates and `ca`, named by `setting`), HTTP/1.1, no redirects followed.
pub fn http_client(ca: Option<&std::path::Path>, setting: &str) -> Result<HttpClient, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(ca) = ca {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let certs = CertificateDer::pem_file_iter(ca)
            .and_then(|c| c.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("{setting} {}: {e}", ca.display()))?;
        roots.add_parsable_certificates(certs);
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

pub fn register_workflows(registry: &mut Registry, ctx: &AppContext) {
    registry.register(kinds::RUN_WORKFLOWS, Arc::new(RunJob { store: ctx.store.clone() }));
    registry.register(kinds::SCAN_SCHEDULED_WORKFLOWS, Arc::new(ScanJob { store: ctx.store.clone() }));
    let deliver = DeliverJob {
        store: ctx.store.clone(),
        blobs: ctx.blobs.clone(),
        settings: ctx.settings.workflows.clone(),
        smtp: ctx.settings.smtp.clone(),
        http: http_client(ctx.settings.workflows.ca_path(), "workflows.ca_file")
            .inspect_err(|e| tracing::error!(error = %e, "webhooks cannot be sent")),
    };
    registry.register(kinds::DELIVER, Arc::new(deliver));
}
