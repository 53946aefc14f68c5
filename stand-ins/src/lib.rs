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
    /// Serves a moving H.264 test pattern of `size` (`640x360`) at `fps` on a free loopback port.
    pub fn start(size: &str, fps: u32) -> TestCamera {
        TestCamera::start_codec(size, fps, "h264")
    }

    /// The same in `codec`: `h264` or `h265`.
    pub fn start_codec(size: &str, fps: u32, codec: &str) -> TestCamera {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cameras/rtsp_test_camera.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .args([
                port.to_string(),
                size.to_string(),
                fps.to_string(),
                codec.to_string(),
            ])
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

/// Hostile input for property tests: arbitrary JSON a few levels deep, with the keys and the
/// kinds of strings (traversals, encodings, control characters, Unicode, long runs) the model
/// must refuse mixed in.
pub mod hostile {
    use proptest::prelude::*;
    use serde_json::Value;

    pub fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("../".to_string()),
            Just("%2e%2e/".to_string()),
            Just("%252e%252e".to_string()),
            Just("a\u{0}b".to_string()),
            Just("line\r\nbreak".to_string()),
            Just("câmera-sala".to_string()),
            Just("/etc/passwd".to_string()),
            Just("rtsp://admin:pw@cam/x".to_string()),
            Just("lavfi:movie=/etc/passwd".to_string()),
            Just("********".to_string()),
            "x{300,2000}",
            ".{0,24}",
        ]
    }

    pub fn json() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("transmissions".to_string()),
            Just("engine".to_string()),
            Just("outputs".to_string()),
            Just("sources".to_string()),
            Just("origin".to_string()),
            Just("graph".to_string()),
            Just("id".to_string()),
            Just("path".to_string()),
            Just("name".to_string()),
            Just("mediamtx_version".to_string()),
            Just("rtsp_url".to_string()),
            Just("fps_limit".to_string()),
            ".{0,12}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            text().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map(key.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
