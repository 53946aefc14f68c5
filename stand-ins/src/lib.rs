//! What tests and benchmarks use to start the parts around the service: the TEST STAND-IN
//! binaries of this crate (MediaMTX, go2rtc), and the GStreamer RTSP test camera
//! (`tests/cameras/`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The `mediamtx-stand-in` binary next to the running test or bench executable.
pub fn mediamtx_stand_in() -> PathBuf {
    stand_in("mediamtx-stand-in")
}

/// The `go2rtc-stand-in` binary next to the running test executable.
pub fn go2rtc_stand_in() -> PathBuf {
    stand_in("go2rtc-stand-in")
}

/// A stand-in binary of this crate next to the running test or bench executable, built first if
/// this build has not made it yet.
fn stand_in(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the current executable");
    // target/<profile>/deps/<test> -> target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests and benches live in target/<profile>/deps");
    let path = profile_dir.join(name);
    if !path.exists() {
        let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        build.args(["build", "--quiet", "-p", "toposync-test-stand-ins"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        assert!(
            build.status().expect("cargo runs").success(),
            "building the stand-ins failed"
        );
    }
    path
}

/// The GStreamer RTSP test camera (`tests/cameras/rtsp_test_camera.py`), stopped when dropped.
pub struct TestCamera {
    child: Child,
    pub url: String,
}

impl TestCamera {
    /// Serves a moving test pattern of `size` (`640x360`) at `fps` on a free loopback port.
    pub fn start(size: &str, fps: u32) -> TestCamera {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cameras/rtsp_test_camera.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .args([port.to_string(), size.to_string(), fps.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with GStreamer (scripts/test installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout piped"))
            .read_line(&mut line)
            .expect("the camera prints ready");
        assert_eq!(line.trim(), "ready", "the test camera did not start");
        TestCamera {
            child,
            url: format!("rtsp://127.0.0.1:{port}/cam"),
        }
    }
}

impl Drop for TestCamera {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
