//! The Home Assistant add-on in `addon/`: `config.yaml` against the rules of Home Assistant's
//! add-on configuration (developers.home-assistant.io/docs/add-ons/configuration), its version
//! against the workspace's, its published ports against the service's defaults, and every
//! variable `run.sh` sets against the names the service reads, so that renaming one fails here.
//! Reads files only: no service is started.

use std::path::Path;

use serde_json::{Map, Value, json};

/// The architectures Home Assistant knows.
const ARCHES: [&str; 5] = ["armhf", "armv7", "aarch64", "amd64", "i386"];
const REQUIRED: [&str; 5] = ["name", "version", "slug", "description", "arch"];
/// Open to everyone, 200 while the HTTP server answers: the watchdog's route.
const HEALTH: &str = "/api/streams/health";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

fn yaml(relative: &str) -> Value {
    serde_norway::from_str(&read(relative))
        .unwrap_or_else(|err| panic!("{relative} is not valid YAML: {err}"))
}

fn config() -> Value {
    yaml("addon/config.yaml")
}

/// The `version` of `[workspace.package]` in Cargo.toml.
fn workspace_version() -> String {
    let manifest = read("Cargo.toml");
    let mut in_section = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == "[workspace.package]";
            continue;
        }
        let value = line
            .strip_prefix("version")
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix('='));
        if let (true, Some(value)) = (in_section, value) {
            return value.trim().trim_matches('"').to_string();
        }
    }
    panic!("Cargo.toml has no version in [workspace.package]");
}

/// What Home Assistant's documented rules refuse in an add-on configuration, and what this
/// add-on promises besides: the workspace's version, ingress, and a watchdog on the health route
/// at the ingress port. Empty when the configuration is good.
fn validate(config: &Value, version: &str) -> Vec<String> {
    let Some(map) = config.as_object() else {
        return vec!["the configuration is not a mapping".to_string()];
    };
    let mut problems = Vec::new();
    for key in REQUIRED {
        if !map.contains_key(key) {
            problems.push(format!("required key `{key}` is missing"));
        }
    }
    for key in ["name", "version", "slug", "description", "panel_icon"] {
        if map.get(key).is_some_and(|value| !value.is_string()) {
            problems.push(format!("`{key}` must be a string"));
        }
    }
    for key in ["init", "ingress"] {
        if map.get(key).is_some_and(|value| !value.is_boolean()) {
            problems.push(format!("`{key}` must be a bool"));
        }
    }

    let slug = map.get("slug").and_then(Value::as_str).unwrap_or_default();
    let slug_chars = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    if slug.is_empty() || !slug.chars().all(slug_chars) {
        problems.push(format!("slug {slug:?} does not match ^[a-z0-9_]+$"));
    }

    match map.get("arch").and_then(Value::as_array) {
        Some(arches) if !arches.is_empty() => {
            for arch in arches {
                if !arch.as_str().is_some_and(|arch| ARCHES.contains(&arch)) {
                    problems.push(format!("arch {arch} is not one of {ARCHES:?}"));
                }
            }
        }
        _ => problems.push("arch must be a non-empty list".to_string()),
    }

    if map.get("version").and_then(Value::as_str) != Some(version) {
        problems.push(format!(
            "version {} is not the workspace's {version:?} (Cargo.toml)",
            config["version"]
        ));
    }

    let empty = Map::new();
    let section = |key: &str, problems: &mut Vec<String>| match map.get(key) {
        None => &empty,
        Some(Value::Object(found)) => found,
        Some(other) => {
            problems.push(format!("`{key}` must be a mapping, not {other}"));
            &empty
        }
    };
    let options = section("options", &mut problems);
    let schema = section("schema", &mut problems);
    for (key, element) in schema {
        if let Err(why) = check_element(element, 0) {
            problems.push(format!("schema `{key}`: {why}"));
        }
    }
    for (key, value) in options {
        match schema.get(key) {
            None => problems.push(format!("option `{key}` has no schema entry")),
            Some(element) => {
                if let Err(why) = fits(value, element) {
                    problems.push(format!("option `{key}`: {why}"));
                }
            }
        }
    }

    let ports = section("ports", &mut problems);
    let descriptions = section("ports_description", &mut problems);
    for (key, host) in ports {
        if port_key(key).is_none() {
            problems.push(format!("port `{key}` is not <port>/tcp or <port>/udp"));
        }
        if !(host.is_null() || is_port(host)) {
            problems.push(format!("port `{key}` maps to {host}, not a port or null"));
        }
        if !descriptions.contains_key(key) {
            problems.push(format!("port `{key}` has no ports_description"));
        }
    }

    if map.get("ingress").and_then(Value::as_bool) != Some(true) {
        problems.push("ingress must be true".to_string());
    }
    match Some(&config["ingress_port"])
        .filter(|port| is_port(port))
        .and_then(Value::as_u64)
    {
        None => problems.push(format!(
            "ingress_port {} is not a port",
            config["ingress_port"]
        )),
        Some(port) => {
            let expected = format!("http://[HOST]:[PORT:{port}]{HEALTH}");
            if config["watchdog"].as_str() != Some(expected.as_str()) {
                problems.push(format!(
                    "watchdog {} is not {expected:?}",
                    config["watchdog"]
                ));
            }
        }
    }
    problems
}

fn is_port(value: &Value) -> bool {
    value
        .as_u64()
        .is_some_and(|port| (1..=65535).contains(&port))
}

/// A schema entry: a type, a list of one element (never directly a list), or a mapping of
/// entries, nested at most two deep.
fn check_element(element: &Value, depth: usize) -> Result<(), String> {
    match element {
        Value::String(ty) if valid_type(ty) => Ok(()),
        Value::String(ty) => Err(format!("{ty:?} is not a Home Assistant option type")),
        Value::Array(items) if depth < 2 => match items.as_slice() {
            [Value::Array(_)] => Err("a list may not directly hold a list".to_string()),
            [item] => check_element(item, depth + 1),
            _ => Err("a list schema holds exactly one element".to_string()),
        },
        Value::Object(fields) if depth < 2 => fields.iter().try_for_each(|(name, field)| {
            check_element(field, depth + 1).map_err(|why| format!("{name}: {why}"))
        }),
        Value::Array(_) | Value::Object(_) => Err("nested more than two deep".to_string()),
        other => Err(format!("{other} is not a type, a list or a mapping")),
    }
}

/// Home Assistant's option types: `str`, `bool`, `int`, `float`, `email`, `url`, `password`,
/// `port`, `device`, `match(REGEX)`, `list(a|b|c)`, bounds `(min,max)` on `str`, `password`,
/// `int` and `float` (either side may be empty), `device(subsystem=…)`; `?` makes one optional.
fn valid_type(ty: &str) -> bool {
    let ty = ty.strip_suffix('?').unwrap_or(ty);
    let plain = [
        "str", "bool", "int", "float", "email", "url", "password", "port", "device",
    ];
    if plain.contains(&ty) {
        return true;
    }
    let Some((name, inner)) = ty
        .split_once('(')
        .and_then(|(name, rest)| Some((name, rest.strip_suffix(')')?)))
    else {
        return false;
    };
    let digits = |number: &str| !number.is_empty() && number.chars().all(|c| c.is_ascii_digit());
    let signed = |number: &str| digits(number.strip_prefix('-').unwrap_or(number));
    let decimal = |number: &str| {
        let number = number.strip_prefix('-').unwrap_or(number);
        number.matches('.').count() <= 1
            && number.ends_with(|c: char| c.is_ascii_digit())
            && number.chars().all(|c| c.is_ascii_digit() || c == '.')
    };
    match name {
        "match" => !inner.is_empty(),
        "list" => inner.split('|').all(|choice| !choice.is_empty()),
        "device" => inner
            .strip_prefix("subsystem=")
            .is_some_and(|kind| !kind.is_empty() && kind.chars().all(|c| c.is_ascii_lowercase())),
        "str" | "password" => bounds(inner, digits),
        "int" => bounds(inner, signed),
        "float" => bounds(inner, decimal),
        _ => false,
    }
}

/// `min,max`, either side empty or a number.
fn bounds(inner: &str, number: impl Fn(&str) -> bool) -> bool {
    inner.split_once(',').is_some_and(|(min, max)| {
        [min, max]
            .into_iter()
            .all(|side| side.is_empty() || number(side))
    })
}

/// Whether an option's default has the shape and type of its schema entry, as far as the type
/// names tell (Home Assistant checks the options against the schema before it starts the add-on).
fn fits(value: &Value, element: &Value) -> Result<(), String> {
    match (element, value) {
        (Value::Array(items), Value::Array(values)) => match items.first() {
            Some(item) => values.iter().try_for_each(|value| fits(value, item)),
            None => Ok(()),
        },
        (Value::Object(fields), Value::Object(values)) => {
            values
                .iter()
                .try_for_each(|(name, value)| match fields.get(name) {
                    Some(field) => fits(value, field).map_err(|why| format!("{name}: {why}")),
                    None => Err(format!("`{name}` has no schema entry")),
                })
        }
        (Value::String(ty), value) => {
            let ty = ty.strip_suffix('?').unwrap_or(ty);
            let choices = ty
                .strip_prefix("list(")
                .and_then(|rest| rest.strip_suffix(')'));
            let ok = match ty.split('(').next().unwrap_or(ty) {
                "bool" => value.is_boolean(),
                "int" | "port" => value.is_i64() || value.is_u64(),
                "float" => value.is_number(),
                "list" => value.as_str().is_some_and(|value| {
                    choices.is_some_and(|choices| choices.split('|').any(|choice| choice == value))
                }),
                _ => value.is_string(),
            };
            if ok {
                Ok(())
            } else {
                Err(format!("the default {value} is not a {ty}"))
            }
        }
        (element, value) => Err(format!(
            "the default {value} does not have the shape of {element}"
        )),
    }
}

/// `8554/tcp` -> `Some(8554)`; `None` unless `<1..=65535>/tcp` or `<1..=65535>/udp`.
fn port_key(key: &str) -> Option<u16> {
    let (port, protocol) = key.split_once('/')?;
    if !matches!(protocol, "tcp" | "udp") || !port.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    port.parse::<u16>().ok().filter(|port| *port > 0)
}

/// Where the service sets the default each published port stands for.
fn service_default(port: &str) -> Option<(&'static str, &'static str, &'static str)> {
    const SETTINGS: &str = "actors/src/model/settings.rs";
    const PREFERRED: &str = "impl Default for PreferredPorts";
    match port {
        "8554/tcp" => Some((SETTINGS, PREFERRED, "rtsp: 8554,")),
        "18762/udp" => Some((SETTINGS, PREFERRED, "webrtc_udp: 18762,")),
        "8889/tcp" => Some((SETTINGS, PREFERRED, "webrtc: 8889,")),
        "8100/tcp" => Some((
            "src/cli.rs",
            "pub struct ServeArgs",
            "default_value_t = 8100",
        )),
        _ => None,
    }
}

/// The block of `text` that starts at `header`, to the first line that is a lone `}`.
fn block<'a>(text: &'a str, header: &str) -> &'a str {
    let start = text
        .find(header)
        .unwrap_or_else(|| panic!("`{header}` not found"));
    let rest = &text[start..];
    &rest[..rest.find("\n}\n").map_or(rest.len(), |end| end + 2)]
}

/// Every `TOPOSYNC_*` name in `text`, once each, in order.
fn toposync_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("TOPOSYNC_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        if !names.iter().any(|name| name == &tail[..end]) {
            names.push(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    names
}

/// The text of every `.rs` file under `dir`, appended to `into`.
fn rust_sources(dir: &Path, into: &mut String) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
            .path();
        if path.is_dir() {
            rust_sources(&path, into);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
            into.push_str(&text);
        }
    }
}

/// Whether `word` stands in `text` as a whole word (not inside a longer name).
fn mentions_word(text: &str, word: &str) -> bool {
    let in_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(in_word) && !after.is_some_and(in_word)
    })
}

fn schema_keys(config: &Value) -> Vec<String> {
    config["schema"]
        .as_object()
        .expect("addon/config.yaml has a schema")
        .keys()
        .cloned()
        .collect()
}

#[test]
fn config_follows_home_assistants_rules() {
    let problems = validate(&config(), &workspace_version());
    assert!(problems.is_empty(), "addon/config.yaml: {problems:#?}");
}

#[test]
fn the_validator_refuses_a_bad_slug() {
    let mut config = config();
    config["slug"] = json!("Toposync-Streaming");
    let problems = validate(&config, &workspace_version());
    assert!(
        problems.iter().any(|problem| problem.starts_with("slug ")),
        "a slug with capitals and a dash passed: {problems:#?}"
    );
}

#[test]
fn the_validator_refuses_an_option_missing_from_the_schema() {
    let mut config = config();
    config["options"]["unlisted"] = json!(true);
    let problems = validate(&config, &workspace_version());
    assert_eq!(
        problems,
        ["option `unlisted` has no schema entry"],
        "an option without a schema entry passed, or was not the only problem"
    );
}

#[test]
fn the_validator_refuses_unknown_types_arches_ports_and_a_stray_watchdog() {
    let mut config = config();
    config["schema"]["log_level"] = json!("level");
    config["arch"] = json!(["amd64", "x86_64"]);
    config["ports"]["8554"] = json!(8554);
    config["ingress_port"] = json!(8099);
    config["version"] = json!("0.0.0-not-this");
    let problems = validate(&config, &workspace_version());
    for expected in [
        "schema `log_level`",
        "arch \"x86_64\"",
        "port `8554` is not",
        "port `8554` has no ports_description",
        "watchdog ",
        "version ",
    ] {
        assert!(
            problems.iter().any(|problem| problem.starts_with(expected)),
            "no problem starting with {expected:?} in {problems:#?}"
        );
    }
}

#[test]
fn option_types_are_home_assistants() {
    for ty in [
        "str",
        "str(3,)",
        "password?",
        "int(5,20)",
        "int(-1,)",
        "float(,1.5)",
        "bool",
        "email",
        "url",
        "port",
        "match(^\\w*$)",
        "list(trace|debug|info)?",
        "device(subsystem=tty)",
    ] {
        assert!(valid_type(ty), "{ty:?} is a documented type");
    }
    for ty in [
        "string",
        "str=x",
        "list()",
        "list(a||b)",
        "int(a,b)",
        "float(1e5,)",
        "bool??",
        "match()",
    ] {
        assert!(!valid_type(ty), "{ty:?} is not a documented type");
    }
}

#[test]
fn run_sh_sets_only_variables_the_service_reads() {
    let mut source = String::new();
    for dir in ["src", "actors/src"] {
        rust_sources(&repo().join(dir), &mut source);
    }
    let names = toposync_names(&read("addon/run.sh"));
    for expected in [
        "TOPOSYNC_LOG",
        "TOPOSYNC_DATA_DIR",
        "TOPOSYNC_ALLOWED_HOSTS",
    ] {
        assert!(
            names.iter().any(|name| name == expected),
            "run.sh does not set {expected}: {names:?}"
        );
    }
    let unread: Vec<&String> = names
        .iter()
        .filter(|name| !source.contains(&format!("\"{name}\"")))
        .collect();
    assert!(
        unread.is_empty(),
        "run.sh sets variables no Rust source under src/ or actors/src/ names (renamed?): {unread:?}"
    );
}

#[test]
fn run_sh_reads_every_option() {
    let script = read("addon/run.sh");
    for key in schema_keys(&config()) {
        assert!(
            mentions_word(&script, &key),
            "run.sh never reads the option `{key}`"
        );
    }
}

#[test]
fn run_sh_serves_the_ingress_port_with_its_data_under_data() {
    let port = config()["ingress_port"]
        .as_u64()
        .expect("ingress_port is a number");
    let script = read("addon/run.sh");
    let exec = script
        .lines()
        .find(|line| line.starts_with("exec "))
        .expect("run.sh execs the service");
    for expected in [
        "toposync-streaming serve".to_string(),
        "--host 0.0.0.0".to_string(),
        format!("--port {port}"),
        "--data-dir \"$state\"".to_string(),
    ] {
        assert!(exec.contains(&expected), "`{exec}` lacks `{expected}`");
    }
    assert!(
        script.contains("data=${ADDON_DATA:-/data}") && script.contains("state=$data/toposync"),
        "run.sh keeps the service's data under /data"
    );
}

#[test]
fn published_ports_are_the_services_defaults() {
    let config = config();
    let ports = config["ports"]
        .as_object()
        .expect("addon/config.yaml publishes ports");
    for key in ports.keys() {
        let (file, header, needle) = service_default(key)
            .unwrap_or_else(|| panic!("port {key} is published but tied to no service default"));
        let text = read(file);
        assert!(
            block(&text, header).contains(needle),
            "{key}: {file} no longer says `{needle}` in `{header}`"
        );
    }
}

#[test]
fn image_changelog_and_translations_follow_the_config() {
    let config = config();
    let version = workspace_version();
    let dockerfile = read("addon/Dockerfile");
    assert!(
        dockerfile
            .lines()
            .any(|line| line.trim() == format!("ARG BUILD_VERSION={version}")),
        "addon/Dockerfile's BUILD_VERSION is not {version}"
    );
    assert!(
        dockerfile.contains("COPY addon/run.sh /run.sh"),
        "addon/Dockerfile does not install run.sh"
    );
    assert!(
        read("addon/CHANGELOG.md")
            .lines()
            .any(|line| line.trim() == format!("## {version}")),
        "addon/CHANGELOG.md has no entry for {version}"
    );
    let translations = yaml("addon/translations/en.yaml");
    for key in schema_keys(&config) {
        assert!(
            translations["configuration"][key.as_str()]["name"].is_string(),
            "addon/translations/en.yaml does not name the option `{key}`"
        );
    }
    for key in config["ports"]
        .as_object()
        .into_iter()
        .flat_map(|ports| ports.keys())
    {
        assert!(
            translations["network"][key.as_str()].is_string(),
            "addon/translations/en.yaml does not describe the port `{key}`"
        );
    }
}
