//! `docmerge bench ocr`: this pipeline against Tesseract and `ocrmypdf --force-ocr` (the
//! paperless-ngx pipeline) on the same corpus pages, scored by the corpus's own `cer.py`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::app::AppError;
use crate::config::Settings;

struct Score {
    cer: f64,
    wer: f64,
    recall: f64,
    gt_chars: usize,
    gt_words: usize,
}

fn score(cer_py: &Path, hyp: &str, gt: &Path, scratch: &Path) -> Result<Score, AppError> {
    let hyp_path = scratch.join("hyp.txt");
    std::fs::write(&hyp_path, hyp).map_err(|e| AppError::Runtime(e.to_string()))?;
    let out = Command::new("python3")
        .arg(cer_py)
        .arg(&hyp_path)
        .arg(gt)
        .arg("--json")
        .output()
        .map_err(|e| AppError::Runtime(format!("cannot run {}: {e}", cer_py.display())))?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|_| AppError::Runtime(format!("cer.py said: {}", String::from_utf8_lossy(&out.stderr))))?;
    let gt_text = std::fs::read_to_string(gt).map_err(|e| AppError::Runtime(e.to_string()))?;
    let norm = gt_text.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok(Score {
        cer: v["cer"].as_f64().unwrap_or(1.0),
        wer: v["wer"].as_f64().unwrap_or(1.0),
        recall: v["bow_recall"].as_f64().unwrap_or(0.0),
        gt_chars: norm.chars().count(),
        gt_words: norm.split(' ').count(),
    })
}

/// CPU seconds (user + system) used so far by this process and by its children that have been
/// waited for: the engines use different numbers of cores (rten spreads one page over all of
/// them, Tesseract runs on one thread), so wall time alone does not compare their cost.
fn cpu_seconds() -> f64 {
    let usage = |who| {
        // SAFETY: getrusage only writes into the struct it is given.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(who, &mut ru) } != 0 {
            return 0.0;
        }
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        t(ru.ru_utime) + t(ru.ru_stime)
    };
    usage(libc::RUSAGE_SELF) + usage(libc::RUSAGE_CHILDREN)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn run_tool(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("failed").to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Pages of the corpus that are images with a ground truth: `img-*.png` and `scan-*` images.
fn pages(corpus: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(corpus) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let is_image = name.ends_with(".png") || name.ends_with(".jpg");
            if !(is_image && (name.starts_with("img-") || name.starts_with("scan-"))) {
                continue;
            }
            let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(&name);
            let gt = corpus.join(format!("{stem}.gt.txt"));
            if gt.is_file() {
                out.push((e.path(), gt));
            }
        }
    }
    out.sort();
    out
}

/// An ocrs engine for the comparison: no recognition model (this pipeline's recogniser reads
/// the lines), and a detection model only for `ocrs-detector`.
fn ocrs_engine(detection_model: Option<&Path>) -> Result<ocrs::OcrEngine, AppError> {
    let detection_model = detection_model
        .map(|p| {
            rten::Model::load_file(p)
                .map_err(|e| AppError::Config(format!("the ocrs detection model {} cannot be loaded: {e}", p.display())))
        })
        .transpose()?;
    ocrs::OcrEngine::new(ocrs::OcrEngineParams { detection_model, ..Default::default() })
        .map_err(|e| AppError::Runtime(format!("the ocrs engine cannot be made: {e}")))
}

/// The ocrs project's text detection model: `DOCMERGE_OCRS_DETECTION_MODEL`, else
/// `models/text-detection.rten` beside the corpus folder (it is not one of docmerge's runtime
/// files: CC-BY-SA, and not on PyPI).
fn ocrs_detection_model(corpus: &Path) -> Result<PathBuf, AppError> {
    let path = std::env::var_os("DOCMERGE_OCRS_DETECTION_MODEL")
        .map(PathBuf::from)
        .or_else(|| corpus.parent().map(|p| p.join("models/text-detection.rten")))
        .filter(|p| p.is_file());
    path.ok_or_else(|| {
        AppError::Config(
            "engine ocrs-detector needs the ocrs text detection model: set DOCMERGE_OCRS_DETECTION_MODEL to text-detection.rten".into(),
        )
    })
}

pub async fn bench_ocr(settings: &Settings, corpus: &Path, engines: &[String], dump: Option<&Path>) -> Result<(), AppError> {
    if let Some(dir) = dump {
        std::fs::create_dir_all(dir).map_err(|e| AppError::Config(format!("cannot create {}: {e}", dir.display())))?;
    }
    let cer_py = corpus.parent().map(|p| p.join("tools/cer.py")).filter(|p| p.is_file()).ok_or_else(|| {
        AppError::Config(format!("no tools/cer.py beside {}: point --corpus at the shared corpus folder", corpus.display()))
    })?;
    let pages = pages(corpus);
    if pages.is_empty() {
        return Err(AppError::Config(format!("no img-*/scan-* pages with ground truth in {}", corpus.display())));
    }
    let scratch = tempfile::tempdir().map_err(|e| AppError::Runtime(e.to_string()))?;
    let settings = settings.clone();
    println!("{} pages: {}", pages.len(), pages.iter().map(|p| p.0.file_name().unwrap().to_string_lossy()).collect::<Vec<_>>().join(", "));
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>11} {:>10} {:>11} {:>9} {:>9}",
        "engine", "pages/min", "s/page", "CPU s/page", "pooled CER", "median CER", "pooled WER", "med. WER", "recall"
    );
    for engine in engines {
        // The ocrs crate's line grouping, over this pipeline's boxes or its own detector's words.
        let ocrs_engine = match engine.as_str() {
            "ocrs-layout" => Some(std::sync::Arc::new(ocrs_engine(None)?)),
            "ocrs-detector" => {
                let model = ocrs_detection_model(corpus)?;
                Some(std::sync::Arc::new(ocrs_engine(Some(&model))?))
            }
            _ => None,
        };
        let mut per_page = Vec::new();
        let mut total = 0.0;
        let mut cpu = 0.0;
        for (img, gt) in &pages {
            let started = Instant::now();
            let cpu_before = cpu_seconds();
            let text = match engine.as_str() {
                "docmerge" => {
                    let (s, img) = (settings.clone(), img.clone());
                    tokio::task::spawn_blocking(move || -> Result<String, String> {
                        let e = super::engine(&s)?;
                        let limits = super::limits(&s);
                        let info = e.inspect(&img, &limits).map_err(|e| e.to_string())?;
                        Ok(e.process_page(&img, &info, 0, &limits).map_err(|e| e.to_string())?.text.text)
                    })
                    .await
                    .map_err(|e| AppError::Runtime(e.to_string()))?
                }
                "ocrs-layout" | "ocrs-detector" => {
                    let (s, img) = (settings.clone(), img.clone());
                    let (ocrs, own_detector) = (ocrs_engine.clone().expect("made above"), engine == "ocrs-detector");
                    tokio::task::spawn_blocking(move || -> Result<String, String> {
                        let e = super::engine(&s)?;
                        e.ocr_image_with_ocrs_layout(&img, &ocrs, own_detector, &super::limits(&s)).map_err(|e| e.to_string())
                    })
                    .await
                    .map_err(|e| AppError::Runtime(e.to_string()))?
                }
                // One OpenMP thread, as ocrmypdf and paperless-ngx run it: Debian's OpenMP build
                // with its default threads is ~8x slower per page on this 2-core machine
                // (img-latex 19 s wall vs 2.3 s), which would flatter the comparison.
                "tesseract" => run_tool(Command::new("tesseract").env("OMP_THREAD_LIMIT", "1").arg(img).arg("stdout").arg("-l").arg("eng")),
                "ocrmypdf" => {
                    let out = scratch.path().join("out.pdf");
                    run_tool(Command::new("ocrmypdf").args(["--force-ocr", "--image-dpi", "300", "-l", "eng", "-q"]).arg(img).arg(&out))
                        .and_then(|_| run_tool(Command::new("pdftotext").arg("-layout").arg(&out).arg("-")))
                }
                other => {
                    return Err(AppError::Config(format!(
                        "unknown engine {other:?}: use docmerge, tesseract, ocrmypdf, ocrs-layout, ocrs-detector"
                    )));
                }
            };
            let secs = started.elapsed().as_secs_f64();
            cpu += cpu_seconds() - cpu_before;
            let text = text.map_err(|e| AppError::Runtime(format!("{engine} on {}: {e}", img.display())))?;
            total += secs;
            if let Some(dir) = dump {
                let stem = img.file_stem().unwrap_or_default().to_string_lossy();
                let out = dir.join(format!("{stem}.{engine}.txt"));
                std::fs::write(&out, &text).map_err(|e| AppError::Runtime(format!("cannot write {}: {e}", out.display())))?;
            }
            per_page.push(score(&cer_py, &text, gt, scratch.path())?);
        }
        let chars: usize = per_page.iter().map(|s| s.gt_chars).sum();
        let words: usize = per_page.iter().map(|s| s.gt_words).sum();
        let pooled_cer = per_page.iter().map(|s| s.cer * s.gt_chars as f64).sum::<f64>() / chars.max(1) as f64;
        let pooled_wer = per_page.iter().map(|s| s.wer * s.gt_words as f64).sum::<f64>() / words.max(1) as f64;
        let recall = per_page.iter().map(|s| s.recall * s.gt_words as f64).sum::<f64>() / words.max(1) as f64;
        println!(
            "{:<10} {:>10.1} {:>10.2} {:>10.2} {:>10.2}% {:>9.2}% {:>10.2}% {:>8.2}% {:>9.3}",
            engine,
            60.0 * pages.len() as f64 / total,
            total / pages.len() as f64,
            cpu / pages.len() as f64,
            100.0 * pooled_cer,
            100.0 * median(per_page.iter().map(|s| s.cer).collect()),
            100.0 * pooled_wer,
            100.0 * median(per_page.iter().map(|s| s.wer).collect()),
            recall
        );
    }
    Ok(())
}
