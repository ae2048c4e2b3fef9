//! One module per subcommand.

pub mod convert;
pub mod demo;
pub mod eeg;
pub mod info;
pub mod models;
pub mod preprocess;
pub mod run;
pub mod seg;
pub mod simulate;

/// The progress bar of the long-running commands (`run`, `seg train|plan|predict`), on stderr.
pub fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Prints a line above `bar`; without a terminal (a log file, CI) the bar draws nothing and
/// drops what it is asked to print, so the line goes to stderr instead.
pub fn say(bar: &indicatif::ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}")
    } else {
        bar.println(line)
    }
}
