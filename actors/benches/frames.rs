//! Frame-path costs, printed as a table: `cargo bench -p toposync-actors --bench frames`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use toposync_actors::frames::ContainResizer;
use toposync_actors::model::transmission::Arbitration;
use toposync_actors::transmissions::arbitration::{Arbiter, ArbitrationConfig, Frame, Lifecycle};

fn frame(width: u32, height: u32) -> Frame {
    // A gradient rather than a flat colour, so the resizer does real work.
    let data: Vec<u8> = (0..width as usize * height as usize * 3)
        .map(|i| (i % 251) as u8)
        .collect();
    Frame::bgr24(Bytes::from(data), width, height).unwrap()
}

/// Runs `work` `runs` times after a warm-up; returns (median, mean).
fn measure(runs: usize, mut work: impl FnMut()) -> (Duration, Duration) {
    for _ in 0..runs / 10 + 1 {
        work();
    }
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .collect();
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / runs as u32;
    (samples[runs / 2], mean)
}

fn main() {
    println!(
        "CPU extensions used by the resizer: {:?}\n",
        fast_image_resize::Resizer::new().cpu_extensions()
    );
    println!("| measurement | median | mean |");
    println!("|---|---|---|");
    for (from, to) in [
        ((1920, 1080), (1280, 720)),
        ((1280, 720), (640, 360)),
        ((720, 1280), (1280, 720)),
    ] {
        let source = frame(from.0, from.1);
        let mut resizer = ContainResizer::default();
        let (median, mean) = measure(200, || {
            black_box(resizer.resize(black_box(&source), to));
        });
        println!(
            "| contain resize {}x{} -> {}x{} | {:.3} ms | {:.3} ms |",
            from.0,
            from.1,
            to.0,
            to.1,
            median.as_secs_f64() * 1e3,
            mean.as_secs_f64() * 1e3
        );
    }
    let hd = frame(1280, 720);
    let mut arbiter = Arbiter::new(Arbitration::PriorityLatest, ArbitrationConfig::default());
    let start = tokio::time::Instant::now();
    let mut tick = 0u64;
    let (median, mean) = measure(100_000, || {
        tick += 1;
        let now = start + Duration::from_micros(tick);
        let writer = if tick.is_multiple_of(2) { "a" } else { "b" };
        arbiter.update(now, writer, Lifecycle::Update, 0, Some(hd.clone()));
        black_box(arbiter.selected_frame());
    });
    println!(
        "| writer frame (1280x720, shared) -> selected frame | {:.0} ns | {:.0} ns |",
        median.as_secs_f64() * 1e9,
        mean.as_secs_f64() * 1e9
    );
}
