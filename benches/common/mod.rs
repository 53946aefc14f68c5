//! What the benchmarks read off a process: CPU time and RSS from /proc.

#![allow(dead_code)] // Each bench uses part of it.

/// User + system CPU seconds of the process itself (children are counted apart).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // utime and stime, in clock ticks (100 per second on Linux).
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0
}

pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .unwrap();
    kib / 1024.0
}

/// A child process killed (and reaped) when dropped, so a bench that fails leaves none behind.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The release service under measurement, on a free port with its own data dir.
pub struct BenchService {
    process: Killed,
    /// `http://ADDR/api/streams`.
    pub base: String,
    _data: tempfile::TempDir,
}

impl BenchService {
    /// Starts `serve` with authentication off (a bench measures the work, not the gate) and
    /// `env` added; its stderr (the bypass warning, logs) is dropped so only the table prints.
    pub fn start(env: &[(&str, &std::ffi::OsStr)]) -> Self {
        use std::io::BufRead;
        let data = tempfile::tempdir().unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_toposync-streaming"));
        command
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(data.path())
            .env("TOPOSYNC_LOG", "error")
            .env("TOPOSYNC_AUTH_MODE", "bypass")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        let mut process = Killed(command.spawn().unwrap());
        let mut line = String::new();
        std::io::BufReader::new(process.0.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().rsplit(' ').next().unwrap();
        BenchService {
            base: format!("{address}/api/streams"),
            process,
            _data: data,
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.0.id()
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self._data.path()
    }
}
