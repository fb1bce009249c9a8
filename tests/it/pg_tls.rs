//! `sslmode` in database.url against the test server (PostgreSQL with `ssl = on`, as Debian
//! sets it up with its self-signed "snakeoil" certificate).

use crate::common::{pg_admin, pg_admin_url, with_database};

/// A fresh database on the test server, dropped when the guard goes.
struct Scratch {
    name: String,
}

impl Scratch {
    async fn new() -> Scratch {
        let name = format!("dm_test_tls_{}_{:08x}", std::process::id(), rand::random::<u32>());
        pg_admin().await.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("CREATE DATABASE");
        Scratch { name }
    }

    /// The database's URL with `params` added to its query.
    fn url(&self, params: &str) -> String {
        let url = with_database(&pg_admin_url(), &self.name);
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}{params}")
    }

    async fn drop_now(self) {
        let _ = pg_admin().await.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await;
    }
}

/// Whether each of the server's connections with this application_name is encrypted.
async fn encrypted(app: &str) -> Vec<bool> {
    let admin = pg_admin().await;
    let rows = admin
        .query("SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = $1", &[&app])
        .await
        .expect("pg_stat_ssl");
    rows.iter().map(|r| r.get::<_, bool>(0)).collect()
}

async fn server_certificate() -> String {
    let admin = pg_admin().await;
    let ssl: String = admin.query_one("SHOW ssl", &[]).await.expect("SHOW ssl").get(0);
    assert_eq!(ssl, "on", "the test server must have ssl = on (Debian's default) for the TLS tests");
    admin.query_one("SHOW ssl_cert_file", &[]).await.expect("SHOW ssl_cert_file").get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_encrypted_when_the_url_requires_it() {
    server_certificate().await;
    let db = Scratch::new().await;
    let app = format!("dm_tls_{:08x}", rand::random::<u32>());
    let plain_app = format!("{app}_plain");

    let store =
        docmerge::db::connect(&db.url(&format!("sslmode=require&application_name={app}")), 2).await.expect("connect with sslmode=require");
    store.migrate().await.expect("migrate over TLS");
    let user = store.create_user("alice", "hash", false).await.expect("a write over TLS");
    assert_eq!(store.root_folders(user.id).await.expect("a read over TLS").0.owner_id, user.id);
    // Without sslmode the same server is reached unencrypted: the check below can tell.
    let plain = docmerge::db::connect(&db.url(&format!("application_name={plain_app}")), 2).await.expect("connect without TLS");

    let (tls, clear) = (encrypted(&app).await, encrypted(&plain_app).await);
    assert!(!tls.is_empty() && tls.iter().all(|e| *e), "sslmode=require connections: {tls:?}");
    assert!(!clear.is_empty() && clear.iter().all(|e| !*e), "connections without sslmode: {clear:?}");
    drop((store, plain));
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_modes_check_the_server_certificate() {
    let cert = server_certificate().await;
    let db = Scratch::new().await;
    let root = urlencoding::encode(&cert).into_owned();

    // The server's certificate as the trusted root: the chain verifies, so verify-ca connects.
    let store = docmerge::db::connect(&db.url(&format!("sslmode=verify-ca&sslrootcert={root}")), 2)
        .await
        .expect("verify-ca with the server's root");
    drop(store);
    // verify-full also wants the host's name in the certificate; the test server's names its
    // machine, not 127.0.0.1.
    let err =
        docmerge::db::connect(&db.url(&format!("sslmode=verify-full&sslrootcert={root}")), 2).await.err().expect("verify-full refused");
    assert!(err.to_string().contains("certificate"), "{err}");
    assert!(err.to_string().contains("certificate not valid for name"), "the reason is said: {err}");
    // Debian's certificate names localhost: connecting by that name, verify-full holds.
    let by_name = db.url(&format!("sslmode=verify-full&sslrootcert={root}"));
    if by_name.contains("@127.0.0.1:") {
        let store =
            docmerge::db::connect(&by_name.replace("@127.0.0.1:", "@localhost:"), 2).await.expect("verify-full by the certificate's name");
        drop(store);
    }
    // A self-signed server certificate is not trusted by the system's roots.
    let err = docmerge::db::connect(&db.url("sslmode=verify-full"), 2).await.err().expect("verify-full without a root refused");
    assert!(err.to_string().contains("invalid peer certificate"), "the reason is said: {err}");
    // A mode that does not exist is a configuration error, said as such.
    let err = docmerge::db::connect(&db.url("sslmode=verify"), 2).await.err().expect("bad sslmode refused");
    assert!(err.to_string().contains("sslmode=verify is not one of"), "{err}");
    db.drop_now().await;
}
