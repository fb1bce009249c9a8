//! Load from a second process: `wrk` with a generated Lua script that adds the bearer token and
//! picks each request's path at random (per-thread seeded), printing one machine-readable line.

use std::path::Path;
use std::process::Command;

use super::runtime_err;
use crate::app::AppError;

/// What one `wrk` run measured. Latencies in milliseconds.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    pub per_sec: f64,
    pub errors: u64,
}

/// The requests of one run: either a path prefix followed by a random page number in
/// 1..=pages, or a random pick from a fixed list of paths, or one POST with a fixed body.
pub enum Requests {
    Paged { prefix: String, pages: u64 },
    Pick(Vec<String>),
    Post { path: String, content_type: String, body: Vec<u8> },
}

fn lua_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

fn script(token: &str, requests: &Requests, body_file: &Path) -> String {
    let mut s = String::new();
    s.push_str("local counter = 0\nfunction setup(thread) thread:set(\"tid\", counter); counter = counter + 1 end\n");
    s.push_str(&format!("local auth = {}\n", lua_string(&format!("Bearer {token}"))));
    match requests {
        Requests::Paged { prefix, pages } => {
            s.push_str("function init(args) math.randomseed(4242 + tid) end\n");
            s.push_str(&format!(
                "local prefix = {}\nlocal pages = {pages}\nfunction request() return wrk.format(\"GET\", prefix .. math.random(pages), {{[\"Authorization\"] = auth}}) end\n",
                lua_string(prefix)
            ));
        }
        Requests::Pick(paths) => {
            s.push_str("function init(args) math.randomseed(4242 + tid) end\n");
            let list: Vec<String> = paths.iter().map(|p| lua_string(p)).collect();
            s.push_str(&format!(
                "local paths = {{{}}}\nfunction request() return wrk.format(\"GET\", paths[math.random(#paths)], {{[\"Authorization\"] = auth}}) end\n",
                list.join(", ")
            ));
        }
        Requests::Post { path, content_type, .. } => {
            s.push_str(&format!(
                "local f = io.open({}, \"rb\")\nlocal body = f:read(\"*a\")\nf:close()\n\
                 function init(args) end\n\
                 function request() return wrk.format(\"POST\", {}, {{[\"Authorization\"] = auth, [\"Content-Type\"] = {}}}, body) end\n",
                lua_string(&body_file.display().to_string()),
                lua_string(path),
                lua_string(content_type)
            ));
        }
    }
    s.push_str(
        "function done(summary, latency, requests)\n\
           local e = summary.errors\n\
           io.write(string.format(\"DMRESULT %d %d %d %d %d\\n\", latency:percentile(50), latency:percentile(99), summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout))\n\
         end\n",
    );
    s
}

/// Runs `wrk` against `base_url` for `seconds` with `connections` connections on 2 threads (1 for
/// one connection).
pub fn wrk(
    base_url: &str,
    token: &str,
    requests: &Requests,
    seconds: u64,
    connections: u32,
    work_dir: &Path,
) -> Result<LoadResult, AppError> {
    let body_file = work_dir.join("wrk-body.bin");
    if let Requests::Post { body, .. } = requests {
        std::fs::write(&body_file, body).map_err(runtime_err)?;
    }
    let script_file = work_dir.join("wrk-script.lua");
    std::fs::write(&script_file, script(token, requests, &body_file)).map_err(runtime_err)?;
    let out = Command::new("wrk")
        .args([&format!("-t{}", connections.clamp(1, 2)), &format!("-c{connections}"), &format!("-d{seconds}s"), "--timeout", "10s", "-s"])
        .arg(&script_file)
        .arg(base_url)
        .output()
        .map_err(|e| AppError::Runtime(format!("cannot run wrk ({e}); install it: apt-get install -y wrk")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix("DMRESULT ")).ok_or_else(|| {
        AppError::Runtime(format!("wrk printed no result (exit {}): {stdout}{}", out.status, String::from_utf8_lossy(&out.stderr)))
    })?;
    let n: Vec<u64> = line.split_whitespace().filter_map(|v| v.parse().ok()).collect();
    let [p50_us, p99_us, requests, duration_us, errors] = n[..] else {
        return Err(AppError::Runtime(format!("cannot read wrk's result line: {line}")));
    };
    Ok(LoadResult {
        p50_ms: p50_us as f64 / 1000.0,
        p99_ms: p99_us as f64 / 1000.0,
        requests,
        per_sec: requests as f64 / (duration_us.max(1) as f64 / 1e6),
        errors,
    })
}
