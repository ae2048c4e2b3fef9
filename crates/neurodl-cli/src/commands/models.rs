//! `neurodl models`: the model zoo, and each model's parameter count for an input shape.

use std::io::Write;

use anyhow::{Result, bail};
use neurodl_models::{REFERENCE_SHAPE, SignalShape, models, param_count};
use serde::Serialize;

/// The input shape asked for on the command line; unset values fall back to the reference
/// shape (22 channels x 1125 samples at 250 Hz, 4 outputs).
pub struct ShapeArgs {
    pub n_chans: Option<usize>,
    pub n_times: Option<usize>,
    pub window_seconds: Option<f64>,
    pub sfreq: Option<f64>,
    pub n_outputs: Option<usize>,
}

#[derive(Serialize)]
struct Row {
    name: &'static str,
    year: u16,
    application: &'static str,
    paper: &'static str,
    n_chans: usize,
    n_times: usize,
    sfreq: Option<f64>,
    n_outputs: usize,
    /// Trainable parameters, or null when the model cannot be built for this shape.
    trainable_params: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn signal(args: &ShapeArgs) -> Result<SignalShape> {
    let r = REFERENCE_SHAPE;
    let n_chans = args.n_chans.unwrap_or(r.n_chans);
    let n_outputs = args.n_outputs.unwrap_or(r.n_outputs);
    let signal = match (args.n_times, args.window_seconds) {
        (Some(_), Some(_)) => bail!("give either --n-times or --window-seconds, not both"),
        (None, Some(w)) => {
            let Some(sfreq) = args.sfreq else {
                bail!("--window-seconds needs --sfreq")
            };
            SignalShape::from_window(n_chans, n_outputs, w, sfreq)?
        }
        (n_times, None) => {
            let mut s = SignalShape::new(n_chans, n_outputs, n_times.unwrap_or(r.n_times));
            s.sfreq = args.sfreq.or(if n_times.is_none() { r.sfreq } else { None });
            s
        }
    };
    if signal.n_chans == 0 || signal.n_times == 0 || signal.n_outputs == 0 {
        bail!("--n-chans, --n-times and --n-outputs must be at least 1");
    }
    if let Some(f) = signal.sfreq
        && !(f.is_finite() && f > 0.0)
    {
        bail!("--sfreq must be a positive number of Hz, got {f}");
    }
    Ok(signal)
}

pub fn run(args: &ShapeArgs, json: bool) -> Result<()> {
    let signal = signal(args)?;
    let rows: Vec<Row> = models()
        .iter()
        .map(|info| {
            let (trainable_params, error) = match param_count(info.name, &signal) {
                Ok(n) => (Some(n), None),
                Err(e) => (None, Some(e.to_string())),
            };
            Row {
                name: info.name,
                year: info.year,
                application: info.application,
                paper: info.paper,
                n_chans: signal.n_chans,
                n_times: signal.n_times,
                sfreq: signal.sfreq,
                n_outputs: signal.n_outputs,
                trainable_params,
                error,
            }
        })
        .collect();
    // Written through a handle so a closed pipe (`| head`) is an error, not a panic.
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(());
    }
    let sfreq = signal.sfreq.map(|f| format!(" at {f} Hz")).unwrap_or_default();
    writeln!(
        out,
        "Trainable parameters for {} channels x {} samples{sfreq}, {} outputs (counted as braindecode 1.8 does):\n",
        signal.n_chans, signal.n_times, signal.n_outputs
    )?;
    writeln!(out, "model             year   parameters  application")?;
    for r in &rows {
        let params = r
            .trainable_params
            .map(group_thousands)
            .unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:<16} {:>5} {:>12}  {}",
            r.name, r.year, params, r.application
        )?;
    }
    for r in rows.iter().filter(|r| r.error.is_some()) {
        writeln!(out, "\n{}: {}", r.name, r.error.as_deref().unwrap_or_default())?;
    }
    writeln!(out, "\nPapers:")?;
    for r in &rows {
        writeln!(out, "  {}: {}", r.name, r.paper)?;
    }
    Ok(())
}

fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
