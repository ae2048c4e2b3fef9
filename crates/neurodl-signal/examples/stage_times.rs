use neurodl_io::open_recording;
use neurodl_signal::pipeline::Pipeline;
use std::time::Instant;
fn best<F: FnMut()>(n: usize, mut f: F) -> f64 {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let steps = [
        "[[step]]\nop = \"filter\"\nl_freq = 4.0\nh_freq = 38.0\n",
        "[[step]]\nop = \"resample\"\nsfreq = 100.0\n",
        "[[step]]\nop = \"scale\"\nfactor = 1e6\n",
        "[[step]]\nop = \"exponential_moving_standardize\"\nfactor_new = 1e-3\ninit_block_size = 1000\n",
    ];
    let read = best(15, || {
        std::hint::black_box(open_recording(path.as_ref()).unwrap().read_all().unwrap());
    });
    println!("read {read:.2} ms");
    let mut rec = open_recording(path.as_ref()).unwrap().read_all().unwrap();
    for s in steps {
        let p = Pipeline::from_toml_str(s, "x").unwrap();
        let t = best(15, || {
            let mut r = rec.clone();
            p.apply(&mut r).unwrap();
            std::hint::black_box(r);
        });
        let c = best(15, || {
            std::hint::black_box(rec.clone());
        });
        println!(
            "{:10} {:.2} ms (clone {:.2})",
            s.split('"').nth(1).unwrap(),
            t - c,
            c
        );
        p.apply(&mut rec).unwrap();
    }
}
