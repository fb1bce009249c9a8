//! The command line. `docmerge --help` is the first thing a newcomer reads.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "docmerge",
    version,
    long_version = crate::LONG_VERSION,
    about = "docmerge — a self-hosted document management system in one binary",
    long_about = "docmerge keeps your scanned letters, receipts and PDFs, makes every page searchable \
(OCR where there is no text layer) and lets you file, tag, find and download them from a web UI or a REST API.\n\n\
One binary, several roles: run `docmerge all` on a laptop, or `serve`, `worker` and `ws` as separate \
processes (on one or many hosts) that share a database and a storage directory.\n\n\
Settings come from built-in defaults, /etc/docmerge/docmerge.toml, the file given with --config \
(or DOCMERGE_CONFIG), then environment variables such as DOCMERGE__DATABASE__URL.",
    after_help = "Quick start: `docmerge all`, then open http://127.0.0.1:8000 and log in as `admin` \
with the password printed at first start."
)]
pub struct Cli {
    /// Read settings from this TOML file (after /etc/docmerge/docmerge.toml).
    #[arg(long, short = 'c', global = true, value_name = "FILE", env = "DOCMERGE_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the REST API and web UI (several may run behind a reverse proxy).
    Serve,
    /// Process uploads: text extraction, OCR, thumbnails, searchable PDFs. Run one or more per host.
    Worker(WorkerArgs),
    /// Run the websocket server that pushes live progress and document events to browsers.
    Ws,
    /// Run everything (API, web UI, worker, websocket) in one process — the laptop setup.
    All(WorkerArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Validate the settings and check the database, storage, PDF library and OCR models.
    Check,
    /// Print what is sent to the language model ([llm]): the instructions, and a whole request
    /// for a made-up document with these settings (a user's own names and the document's text
    /// take the place of the examples).
    LlmPrompt,
    /// Run the pipeline on one file, without a server: print its text or write a searchable PDF.
    Ocr(OcrArgs),
    /// Back up everything (database rows and files) into a directory, PATH.tar or PATH.tar.zst.
    Export(ExportArgs),
    /// Restore an export into an empty instance (either database), or bring in a paperless-ngx
    /// export with --from-paperless. Safe to run again after an interruption: it continues
    /// where it stopped.
    Import(ImportArgs),
    /// Benchmarks that print a table (see BENCHMARKS.md; built with `--features bench`).
    #[cfg(feature = "bench")]
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Args, Debug, Clone, Default)]
pub struct WorkerArgs {
    /// Jobs to run at the same time (default: worker.concurrency).
    #[arg(long, short = 'j', value_name = "N")]
    pub concurrency: Option<usize>,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user. Without --password the password is read from standard input.
    Add {
        name: String,
        #[arg(long)]
        password: Option<String>,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
    },
    /// List users.
    List,
    /// Set a user's password (read from standard input unless --password is given).
    Passwd {
        name: String,
        #[arg(long)]
        password: Option<String>,
        /// Keep the user's API tokens working (browser sessions end either way).
        #[arg(long)]
        keep_tokens: bool,
    },
    /// Disable a user (their sessions and tokens stop working). --enable turns them back on.
    Disable {
        name: String,
        #[arg(long)]
        enable: bool,
    },
}

#[derive(Args, Debug)]
pub struct OcrArgs {
    /// A PDF, PNG, JPEG or TIFF file.
    pub file: PathBuf,
    /// Write a searchable PDF here.
    #[arg(long, short = 'o', value_name = "OUT.pdf")]
    pub output: Option<PathBuf>,
    /// Print the recognised text to standard output.
    #[arg(long)]
    pub text: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A new directory, or a file ending in .tar or .tar.zst.
    pub path: PathBuf,
    /// Also export the derived files (searchable PDFs, thumbnails); otherwise the import
    /// queues jobs that rebuild them.
    #[arg(long)]
    pub with_derived: bool,
    /// Only documents (and their versions and pages) changed at or after SINCE: a date
    /// (2024-05-01, midnight UTC) or an RFC 3339 time. Users, folders and tags are always
    /// exported whole. Deletions are not carried.
    #[arg(long, value_name = "SINCE")]
    pub incremental: Option<String>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// A directory, .tar or .tar.zst written by `docmerge export`.
    #[arg(required_unless_present = "from_paperless", conflicts_with = "from_paperless")]
    pub path: Option<PathBuf>,
    /// Import a paperless-ngx `document_exporter` directory (manifest.json + files) into this
    /// instance, empty or not; documents are re-processed by docmerge (docs/backup.md).
    #[arg(long, value_name = "DIR")]
    pub from_paperless: Option<PathBuf>,
    /// With --from-paperless: the user who owns the imported documents (default: the admin,
    /// auth.admin_username).
    #[arg(long, value_name = "USER", requires = "from_paperless")]
    pub owner: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Job table throughput: claim + complete jobs per second with 1, 4 and 8 workers.
    Queue {
        /// Database URL (sqlite:///tmp/x.db or postgres://…); default: a temporary SQLite file.
        #[arg(long)]
        database: Vec<String>,
        /// Jobs per run.
        #[arg(long, default_value_t = 20_000)]
        jobs: usize,
        /// Worker counts to measure.
        #[arg(long, value_delimiter = ',', default_values_t = vec![1, 4, 8])]
        workers: Vec<usize>,
    },
    /// Export and import of a synthetic library: wall time and peak memory (VmHWM).
    Archive {
        /// Database URLs to measure (export from each, import into a fresh one of the same kind).
        #[arg(long)]
        database: Vec<String>,
        /// Documents in the synthetic library.
        #[arg(long, default_value_t = 100_000)]
        documents: usize,
        /// Where to put the library, the archive and the restored copy (default: a temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// OCR speed and accuracy on the corpus pages, side by side with Tesseract and ocrmypdf.
    Ocr {
        /// The corpus folder (img-*/scan-* pages with *.gt.txt, tools/cer.py beside it).
        #[arg(long, env = "DOCMERGE_TEST_CORPUS")]
        corpus: PathBuf,
        /// Engines to run: docmerge, tesseract, ocrmypdf; also ocrs-layout (the ocrs crate's line
        /// grouping and reading order over this pipeline's boxes) and ocrs-detector (the ocrs
        /// detection model and line grouping; DOCMERGE_OCRS_DETECTION_MODEL), both read by this
        /// pipeline's recogniser.
        #[arg(long, value_delimiter = ',', default_values_t = vec!["docmerge".to_string(), "tesseract".to_string(), "ocrmypdf".to_string()])]
        engines: Vec<String>,
        /// Also write each engine's text of each page to DIR/<page>.<engine>.txt (to see where
        /// the errors are).
        #[arg(long, value_name = "DIR")]
        dump: Option<PathBuf>,
    },
    /// REST API speed at scale: fill a library, start `docmerge serve`, load it with wrk.
    Library(LibraryArgs),
    /// Can one kind of request starve the rest: a lister's latency alone and beside concurrent
    /// worst-case searches, on a filled library.
    Contention(ContentionArgs),
    /// Live events: websocket fan-out latency and memory per idle connection of `docmerge ws`.
    Ws(WsArgs),
    /// Page operations on long documents: rotate one page, move pages between two documents.
    Pages(PagesBenchArgs),
    /// Matching rules (#23): load, match and apply per document at library scale.
    Matching(MatchingBenchArgs),
    /// Path templates (#23): giving a template, filing every document, a rename, a changed
    /// template, at library scale.
    Placement(PlacementBenchArgs),
    /// The auto classifier (#23): held-out accuracy on a generated labelled library, training
    /// time and memory, classification time; side by side with paperless-ngx's algorithm.
    Classify(ClassifyBenchArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ClassifyBenchArgs {
    /// Letters in the labelled library (80 % to train, 20 % held out).
    #[arg(long, default_value_t = 10_000)]
    pub docs: usize,
    /// Share of each field filed wrongly on purpose.
    #[arg(long, default_value_t = 0.05)]
    pub noise: f64,
    /// Seed of the library.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A Python with scikit-learn: runs paperless-ngx's classifier on the same split.
    #[arg(long)]
    pub vs_paperless: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct PlacementBenchArgs {
    #[command(flatten)]
    pub library: LibrarySize,
    /// Seed of the synthetic library.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Args, Debug, Clone)]
pub struct MatchingBenchArgs {
    #[command(flatten)]
    pub library: LibrarySize,
    /// Matching rules of the owner (on the library's correspondents and types, folders and tags).
    #[arg(long, default_value_t = 500)]
    pub rules: usize,
    /// Seed of the synthetic text and rules.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Only rules of this algorithm (any, all, exact, regex, fuzzy), to see what each costs.
    #[arg(long)]
    pub algorithm: Option<String>,
    /// The library's correspondents and types get `auto` rules: the owner's classifier is
    /// trained from the library first (timed), and every document is also classified.
    #[arg(long)]
    pub auto: bool,
}

#[derive(Args, Debug, Clone)]
pub struct PagesBenchArgs {
    /// Database URL base (sqlite, or postgres://… where a scratch database is created); repeat for both.
    #[arg(long)]
    pub database: Vec<String>,
    /// Pages of each of the two documents.
    #[arg(long, default_value_t = 500)]
    pub pages: usize,
    /// Pages moved from one document to the other per run.
    #[arg(long, default_value_t = 10)]
    pub moved: usize,
    /// Runs of each operation.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
}

/// The synthetic library of `bench library` and `bench contention`, and where to put it.
#[derive(Args, Debug, Clone)]
pub struct LibrarySize {
    /// Database URL base (sqlite, or postgres://… where a scratch database is created); repeat for both.
    #[arg(long)]
    pub database: Vec<String>,
    /// Documents in the library.
    #[arg(long, default_value_t = 100_000)]
    pub docs: usize,
    /// Pages in the library (spread over the documents).
    #[arg(long, default_value_t = 300_000)]
    pub pages: usize,
    /// Folders (a two-level tree).
    #[arg(long, default_value_t = 200)]
    pub folders: usize,
}

#[derive(Args, Debug, Clone)]
pub struct ContentionArgs {
    #[command(flatten)]
    pub library: LibrarySize,
    /// Seconds the lister is measured (alone, then beside the searches).
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Connections sending worst-case searches at once.
    #[arg(long, default_value_t = 20)]
    pub searchers: u32,
}

#[derive(Args, Debug, Clone)]
pub struct LibraryArgs {
    #[command(flatten)]
    pub library: LibrarySize,
    /// Seconds of load per measured request kind.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent HTTP connections (wrk -c); repeat to measure every request kind at each
    /// concurrency on the same library (e.g. `--connections 4 --connections 16`).
    #[arg(long, default_values_t = [4, 16])]
    pub connections: Vec<u32>,
    /// Seed of the synthetic text.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keep the filled library (prints where) instead of removing it, for studying queries.
    #[arg(long)]
    pub keep: bool,
    /// Only the request kinds whose name contains this (e.g. `metadata`: the filtered list,
    /// the field queries and the bulk edit); repeatable. Default: all.
    #[arg(long)]
    pub only: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct WsArgs {
    /// Database URL base (sqlite, or postgres://… where a scratch database is created); repeat for both.
    #[arg(long)]
    pub database: Vec<String>,
    /// Concurrent websocket clients.
    #[arg(long, default_value_t = 1_000)]
    pub clients: usize,
    /// Users the clients are spread over (each event goes to that user's clients).
    #[arg(long, default_value_t = 10)]
    pub users: usize,
    /// Events to commit.
    #[arg(long, default_value_t = 200)]
    pub events: usize,
    /// Events committed per second.
    #[arg(long, default_value_t = 20)]
    pub rate: u32,
}
