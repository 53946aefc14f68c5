//! Black-box tests of the HTTP API: the real binary, a temp data dir, requests over the wire.

/// `addon/config.yaml` against Home Assistant's add-on rules.
mod addon;
mod support;

use serde_json::{Value, json};
use support::{Service, eventually, first_loc, transmission_actors};

fn front_door() -> Value {
    json!({
        "name": "Front Door",
        "path": "front-door",
        "outputs": [{
            "id": "hls_main",
            "protocol": "hls",
            "resolution": {"width": 1280, "height": 720},
            "fps_limit": 12,
            "bitrate_kbps": 2500,
            "latency_profile": "normal",
            "authentication": {"enabled": false}
        }]
    })
}

async fn full_settings(service: &Service) -> Value {
    let (status, body) = service.get("/settings?include_secrets=true").await;
    assert_eq!(status, 200);
    body
}

mod crud {
    use super::*;

    #[tokio::test]
    async fn create_list_replace_delete() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());

        let (status, created) = service.post("/transmissions", &front_door()).await;
        assert_eq!(status, 200, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(uuid_version(&id), Some('4'));
        assert_eq!(created["placeholder"], "gray");
        assert_eq!(created["arbitration"], "priority_latest");
        assert_eq!(created["created_at"], created["updated_at"]);

        let (_, list) = service.get("/transmissions").await;
        assert_eq!(list.as_array().unwrap().len(), 1);

        let mut changed = created.clone();
        changed["name"] = json!("Porch");
        changed["created_at"] = json!("1999-01-01T00:00:00Z");
        let (status, replaced) = service.put(&format!("/transmissions/{id}"), &changed).await;
        assert_eq!(status, 200, "{replaced}");
        assert_eq!(replaced["name"], "Porch");
        assert_eq!(
            replaced["created_at"], created["created_at"],
            "server keeps created_at"
        );
        assert_ne!(replaced["updated_at"], created["updated_at"]);

        let (status, body) = service.delete(&format!("/transmissions/{id}")).await;
        assert_eq!((status, body), (200, json!({"deleted": true})));
        let (_, list) = service.get("/transmissions").await;
        assert_eq!(list, json!([]));
    }

    #[tokio::test]
    async fn client_chosen_id_slugged_path_and_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (status, first) = service
            .post(
                "/transmissions",
                &json!({"id": "porch", "name": " Porch ", "path": " Porch Cam / 1 "}),
            )
            .await;
        assert_eq!(status, 200, "{first}");
        assert_eq!(first["id"], "porch");
        assert_eq!(first["name"], "Porch");
        assert_eq!(first["path"], "porch-cam---1");
        let (_, second) = service.post("/transmissions", &front_door()).await;
        let (_, list) = service.get("/transmissions").await;
        assert_eq!(list[0]["id"], second["id"]);
        assert_eq!(list[1]["id"], "porch");
    }

    #[tokio::test]
    async fn extra_fields_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let mut body = front_door();
        body["outputs"][0]["path"] = json!("lobby");
        body["outputs"][0]["resize_mode"] = json!("none");
        body["outputs"][0]["vendor_hint"] = json!({"x": 1});
        let (status, created) = service.post("/transmissions", &body).await;
        assert_eq!(status, 200, "{created}");
        let id = created["id"].as_str().unwrap();
        let mut put = created.clone();
        put["site"] = json!("north");
        let (status, replaced) = service.put(&format!("/transmissions/{id}"), &put).await;
        assert_eq!(status, 200, "{replaced}");
        let (_, list) = service.get("/transmissions").await;
        assert_eq!(list[0]["outputs"][0]["path"], "lobby");
        assert_eq!(list[0]["outputs"][0]["resize_mode"], "none");
        assert_eq!(list[0]["outputs"][0]["vendor_hint"], json!({"x": 1}));
        assert_eq!(list[0]["site"], "north");
    }

    #[tokio::test]
    async fn put_without_id_uses_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, created) = service.post("/transmissions", &front_door()).await;
        let id = created["id"].as_str().unwrap();
        let mut body = created.clone();
        body.as_object_mut().unwrap().remove("id");
        let (status, replaced) = service.put(&format!("/transmissions/{id}"), &body).await;
        assert_eq!(status, 200, "{replaced}");
        assert_eq!(replaced["id"], created["id"]);
    }

    #[tokio::test]
    async fn patch_settings_merges_deeply() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (status, saved) = service
            .patch(
                "/settings",
                &json!({"engine": {"preferred_ports": {"rtsp": 9554}, "expose_to_lan": true}}),
            )
            .await;
        assert_eq!(status, 200, "{saved}");
        assert_eq!(saved["engine"]["preferred_ports"]["rtsp"], 9554);
        assert_eq!(saved["engine"]["preferred_ports"]["hls"], 8888);
        assert_eq!(saved["engine"]["expose_to_lan"], true);
        assert_eq!(saved["engine"]["mediamtx_version"], "v1.16.2");
        let (_, read) = service.get("/settings").await;
        assert_eq!(read, saved);
    }

    fn uuid_version(id: &str) -> Option<char> {
        (id.len() == 36).then(|| id.chars().nth(14)).flatten()
    }
}

/// Every rule: the status, the field named in `loc`, and nothing persisted.
mod output_presets {
    use super::*;

    fn output_ids(transmission: &Value) -> Vec<&str> {
        transmission["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn quality_profiles_and_the_webrtc_companion_apply_as_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"name": "Door", "path": "door",
                   "outputs": [{"id": "cam", "protocol": "rtsp"}]}),
            )
            .await;
        let id = created["id"].as_str().unwrap();
        let apply = format!("/transmissions/{id}/quality-profiles/apply");

        let (code, body) = service
            .post(&apply, &json!({"profile_ids": ["quad_grid"]}))
            .await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["applied_profile_ids"], json!(["quad_grid"]));
        assert_eq!(body["transmission_id"], id);
        assert_eq!(
            output_ids(&body["transmission"]),
            vec!["hls_quad_grid", "cam"]
        );
        assert_eq!(
            body["transmission"]["outputs"][0]["resolution"]["width"],
            640
        );

        // No body: all four, in catalogue order, replacing the earlier one.
        let response = service.http.post(service.url(&apply)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["applied_profile_ids"].as_array().unwrap().len(), 4);
        assert_eq!(output_ids(&body["transmission"]).len(), 5);
        assert_eq!(output_ids(&body["transmission"])[4], "cam");

        let before = full_settings(&service).await;
        let (code, body) = service
            .post(&apply, &json!({"profile_ids": ["cinema"]}))
            .await;
        assert_eq!(code, 422, "{body}");
        assert_eq!(first_loc(&body), "body.profile_ids.0");
        assert_eq!(
            full_settings(&service).await,
            before,
            "a refused apply changed settings"
        );

        let companion = format!("/transmissions/{id}/webrtc/companion/apply");
        for _ in 0..2 {
            let (code, body) = service.post(&companion, &json!({})).await;
            assert_eq!(code, 200, "{body}");
            assert_eq!(body["output_id"], "webrtc_low_latency");
            let ids = output_ids(&body["transmission"]);
            assert_eq!(
                ids.iter().filter(|i| **i == "webrtc_low_latency").count(),
                1
            );
            assert_eq!(ids.last(), Some(&"webrtc_low_latency"));
        }
        let (code, body) = service
            .post("/transmissions/nope/webrtc/companion/apply", &json!({}))
            .await;
        assert_eq!(
            (code, body),
            (404, json!({"detail": "Transmission not found"}))
        );
    }
}

mod validation {
    use super::*;

    /// Sends `request` against a service holding one stored transmission ("stored", path
    /// "taken") and checks the refusal changed nothing.
    async fn refused(
        method: &str,
        path: &str,
        body: Value,
        expected_status: u16,
        expected_loc: Option<&str>,
    ) -> Value {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (status, _) = service
            .post(
                "/transmissions",
                &json!({"id": "stored", "name": "Stored", "path": "taken", "outputs": [
                    {"id": "o", "protocol": "rtsp", "authentication": {"enabled": true, "username": "u", "password": "pw"}}
                ]}),
            )
            .await;
        assert_eq!(status, 200);
        let before = full_settings(&service).await;
        let (status, answer) = match method {
            "POST" => service.post(path, &body).await,
            "PUT" => service.put(path, &body).await,
            "PATCH" => service.patch(path, &body).await,
            "GET" => service.get(path).await,
            "DELETE" => service.delete(path).await,
            other => panic!("{other}"),
        };
        assert_eq!(status, expected_status, "{answer}");
        if let Some(loc) = expected_loc {
            assert_eq!(first_loc(&answer), loc, "{answer}");
        } else {
            assert!(answer["detail"].is_string(), "{answer}");
        }
        assert_eq!(
            full_settings(&service).await,
            before,
            "a refused request changed settings"
        );
        answer
    }

    fn with_output(output: Value) -> Value {
        json!({"name": "n", "path": "p", "outputs": [output]})
    }

    #[tokio::test]
    async fn name_is_required() {
        refused(
            "POST",
            "/transmissions",
            json!({"path": "p"}),
            422,
            Some("body.name"),
        )
        .await;
    }

    #[tokio::test]
    async fn path_is_required() {
        refused(
            "POST",
            "/transmissions",
            json!({"name": "n"}),
            422,
            Some("body.path"),
        )
        .await;
    }

    #[tokio::test]
    async fn unknown_create_fields_are_refused() {
        let answer = refused(
            "POST",
            "/transmissions",
            json!({"name": "n", "path": "p", "pth": "x"}),
            422,
            Some("body.pth"),
        )
        .await;
        assert_eq!(answer["detail"][0]["type"], "extra_forbidden");
    }

    #[tokio::test]
    async fn protocol_is_an_enum() {
        let answer = refused(
            "POST",
            "/transmissions",
            with_output(json!({"id": "a", "protocol": "srt"})),
            422,
            Some("body.outputs.0.protocol"),
        )
        .await;
        assert!(answer["detail"][0]["msg"].as_str().unwrap().contains("hls"));
    }

    #[tokio::test]
    async fn protocol_is_required() {
        refused(
            "POST",
            "/transmissions",
            with_output(json!({"id": "a"})),
            422,
            Some("body.outputs.0.protocol"),
        )
        .await;
    }

    #[tokio::test]
    async fn latency_profile_is_an_enum() {
        refused(
            "POST",
            "/transmissions",
            with_output(json!({"protocol": "hls", "latency_profile": "fast"})),
            422,
            Some("body.outputs.0.latency_profile"),
        )
        .await;
    }

    #[tokio::test]
    async fn placeholder_is_an_enum() {
        refused(
            "POST",
            "/transmissions",
            json!({"name": "n", "path": "p", "placeholder": "white"}),
            422,
            Some("body.placeholder"),
        )
        .await;
    }

    #[tokio::test]
    async fn arbitration_is_an_enum() {
        refused(
            "POST",
            "/transmissions",
            json!({"name": "n", "path": "p", "arbitration": "oldest"}),
            422,
            Some("body.arbitration"),
        )
        .await;
    }

    #[tokio::test]
    async fn fps_limit_is_1_to_120() {
        refused(
            "POST",
            "/transmissions",
            with_output(json!({"protocol": "hls", "fps_limit": 121})),
            422,
            Some("body.outputs.0.fps_limit"),
        )
        .await;
    }

    #[tokio::test]
    async fn bitrate_is_64_to_250000() {
        refused(
            "POST",
            "/transmissions",
            with_output(json!({"protocol": "hls", "bitrate_kbps": 10})),
            422,
            Some("body.outputs.0.bitrate_kbps"),
        )
        .await;
    }

    #[tokio::test]
    async fn resolution_is_bounded() {
        refused(
            "POST",
            "/transmissions",
            with_output(json!({"protocol": "hls", "resolution": {"width": 0, "height": 720}})),
            422,
            Some("body.outputs.0.resolution.width"),
        )
        .await;
    }

    #[tokio::test]
    async fn resize_mode_is_contain_or_none() {
        refused(
            "POST",
            "/transmissions",
            with_output(json!({"protocol": "hls", "resize_mode": "stretch"})),
            422,
            Some("body.outputs.0.resize_mode"),
        )
        .await;
    }

    #[tokio::test]
    async fn field_types_are_checked() {
        refused(
            "POST",
            "/transmissions",
            json!({"name": "n", "path": "p", "enabled": "yes"}),
            422,
            Some("body.enabled"),
        )
        .await;
    }

    #[tokio::test]
    async fn output_ids_are_unique_in_a_transmission() {
        refused(
            "POST",
            "/transmissions",
            json!({"name": "n", "path": "p", "outputs": [
            {"id": "a", "protocol": "hls"}, {"id": "a", "protocol": "rtsp"}]}),
            409,
            Some("body.outputs.1.id"),
        )
        .await;
    }

    #[tokio::test]
    async fn path_is_unique_per_host() {
        let answer = refused(
            "POST",
            "/transmissions",
            json!({"name": "n", "path": "Taken"}),
            409,
            Some("body.path"),
        )
        .await;
        assert_eq!(
            answer["detail"][0]["msg"],
            "Duplicate transmission path for host_server_id='local': taken"
        );
    }

    #[tokio::test]
    async fn id_is_unique() {
        refused(
            "POST",
            "/transmissions",
            json!({"id": "stored", "name": "n", "path": "other"}),
            409,
            Some("body.id"),
        )
        .await;
    }

    #[tokio::test]
    async fn host_server_id_must_be_known() {
        let answer = refused(
            "POST",
            "/transmissions",
            json!({"name": "n", "path": "p", "host_server_id": "Garage"}),
            400,
            None,
        )
        .await;
        assert_eq!(answer, json!({"detail": "Unknown host_server_id: garage"}));
    }

    #[tokio::test]
    async fn camera_controls_need_a_camera() {
        refused(
            "POST",
            "/transmissions",
            json!({"name": "n", "path": "p", "camera_controls": {"enabled": true}}),
            422,
            Some("body.camera_controls.camera_id"),
        )
        .await;
    }

    #[tokio::test]
    async fn malformed_json_is_422() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let response = service
            .http
            .post(service.url("/transmissions"))
            .header("content-type", "application/json")
            .body("{\"name\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"][0]["type"], "json_invalid");
        let (_, list) = service.get("/transmissions").await;
        assert_eq!(list, json!([]));
    }

    #[tokio::test]
    async fn body_must_be_an_object() {
        refused("POST", "/transmissions", json!([1, 2]), 422, Some("body")).await;
    }

    #[tokio::test]
    async fn put_id_mismatch_is_400() {
        let answer = refused(
            "PUT",
            "/transmissions/stored",
            json!({"id": "other", "name": "n", "path": "taken"}),
            400,
            None,
        )
        .await;
        assert_eq!(answer["detail"], "Transmission id mismatch");
    }

    #[tokio::test]
    async fn put_unknown_transmission_is_404() {
        let answer = refused(
            "PUT",
            "/transmissions/nope",
            json!({"name": "n", "path": "p"}),
            404,
            None,
        )
        .await;
        assert_eq!(answer["detail"], "Transmission not found");
    }

    #[tokio::test]
    async fn delete_unknown_transmission_is_404() {
        refused("DELETE", "/transmissions/nope", Value::Null, 404, None).await;
    }

    #[tokio::test]
    async fn put_path_collision_is_409() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, a) = service
            .post("/transmissions", &json!({"name": "a", "path": "a"}))
            .await;
        let (_, b) = service
            .post("/transmissions", &json!({"name": "b", "path": "b"}))
            .await;
        let before = full_settings(&service).await;
        let mut body = b.clone();
        body["path"] = a["path"].clone();
        let (status, answer) = service
            .put(
                &format!("/transmissions/{}", b["id"].as_str().unwrap()),
                &body,
            )
            .await;
        assert_eq!(status, 409, "{answer}");
        assert_eq!(first_loc(&answer), "body.path");
        assert_eq!(full_settings(&service).await, before);
    }

    #[tokio::test]
    async fn redaction_marker_needs_a_stored_password() {
        refused(
            "POST",
            "/transmissions",
            with_output(json!({"protocol": "rtsp",
            "authentication": {"enabled": true, "username": "u", "password": "********"}})),
            422,
            Some("body.outputs.0.authentication.password"),
        )
        .await;
    }

    #[tokio::test]
    async fn patch_refuses_unknown_sections() {
        refused(
            "PATCH",
            "/settings",
            json!({"engnie": {"enabled": true}}),
            422,
            Some("body.engnie"),
        )
        .await;
    }

    #[tokio::test]
    async fn patch_refuses_unknown_engine_fields() {
        refused(
            "PATCH",
            "/settings",
            json!({"engine": {"enabeld": true}}),
            422,
            Some("body.engine.enabeld"),
        )
        .await;
    }

    #[tokio::test]
    async fn patch_checks_port_ranges() {
        refused(
            "PATCH",
            "/settings",
            json!({"engine": {"expose_to_lan": true, "preferred_ports": {"hls": 70000}}}),
            422,
            Some("body.engine.preferred_ports.hls"),
        )
        .await;
    }

    #[tokio::test]
    async fn patch_checks_stale_policy_order() {
        refused(
            "PATCH",
            "/settings",
            json!({"stale_policy": {"stale_after_seconds": 10, "placeholder_after_seconds": 5}}),
            422,
            Some("body.stale_policy.placeholder_after_seconds"),
        )
        .await;
    }

    #[tokio::test]
    async fn patch_checks_token_margin_below_ttl() {
        refused("PATCH", "/settings", json!({"engine": {"media_auth": {"token_ttl_seconds": 60, "renew_margin_seconds": 60}}}), 422, Some("body.engine.media_auth.renew_margin_seconds")).await;
    }

    #[tokio::test]
    async fn patch_checks_transmissions_whole() {
        refused(
            "PATCH",
            "/settings",
            json!({"transmissions": [{"id": "a", "path": "x"}, {"id": "b", "path": "x"}]}),
            409,
            Some("body.transmissions.1.path"),
        )
        .await;
    }

    #[tokio::test]
    async fn include_secrets_must_be_a_boolean() {
        refused(
            "GET",
            "/transmissions?include_secrets=maybe",
            Value::Null,
            422,
            Some("query.include_secrets"),
        )
        .await;
    }

    #[tokio::test]
    async fn oversized_bodies_are_413() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        // The service refuses on the declared length alone, before reading the body, so a raw
        // client that only sends the headers sees the answer.
        let address = service
            .base
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let request = format!(
            "POST /api/streams/transmissions HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{{",
            service.admin_token,
            2 * 1024 * 1024
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(
            answer.contains(r#"{"detail":"Request body is larger than 1048576 bytes"}"#),
            "{answer}"
        );
        let (_, list) = service.get("/transmissions").await;
        assert_eq!(list, json!([]));
    }

    #[tokio::test]
    async fn unknown_routes_answer_json_404() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (status, body) = service.get("/nope").await;
        assert_eq!((status, body), (404, json!({"detail": "Not Found"})));
        let (status, body) = service.delete("/settings").await;
        assert_eq!(
            (status, body),
            (405, json!({"detail": "Method Not Allowed"}))
        );
    }
}

mod redaction {
    use super::*;

    fn secured() -> Value {
        json!({"name": "Gate", "path": "gate", "outputs": [{"id": "rtsp", "protocol": "rtsp",
            "authentication": {"enabled": true, "username": "viewer", "password": "s3cret"}}]})
    }

    #[tokio::test]
    async fn passwords_are_hidden_unless_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, created) = service.post("/transmissions", &secured()).await;
        assert_eq!(
            created["outputs"][0]["authentication"]["password"],
            "********"
        );
        let (_, list) = service.get("/transmissions").await;
        assert_eq!(
            list[0]["outputs"][0]["authentication"]["password"],
            "********"
        );
        let (_, settings) = service.get("/settings").await;
        assert_eq!(
            settings["transmissions"][0]["outputs"][0]["authentication"]["password"],
            "********"
        );
        assert!(!settings.to_string().contains("s3cret"));
        let (_, list) = service.get("/transmissions?include_secrets=true").await;
        assert_eq!(
            list[0]["outputs"][0]["authentication"]["password"],
            "s3cret"
        );
    }

    #[tokio::test]
    async fn sending_back_the_marker_keeps_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, created) = service.post("/transmissions", &secured()).await;
        let id = created["id"].as_str().unwrap();
        let mut edited = created.clone();
        edited["name"] = json!("Gate 2");
        let (status, _) = service.put(&format!("/transmissions/{id}"), &edited).await;
        assert_eq!(status, 200);
        let (_, list) = service.get("/transmissions?include_secrets=true").await;
        assert_eq!(
            list[0]["outputs"][0]["authentication"]["password"],
            "s3cret"
        );

        let (_, settings) = service.get("/settings").await;
        let (status, _) = service
            .patch(
                "/settings",
                &json!({"transmissions": settings["transmissions"]}),
            )
            .await;
        assert_eq!(status, 200);
        let (_, list) = service.get("/transmissions?include_secrets=true").await;
        assert_eq!(
            list[0]["outputs"][0]["authentication"]["password"],
            "s3cret"
        );
    }

    #[tokio::test]
    async fn urls_name_the_user_but_never_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, created) = service.post("/transmissions", &secured()).await;
        let (_, urls) = service
            .get(&format!(
                "/transmissions/{}/urls",
                created["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(urls["outputs"][0]["requires_auth"], true);
        assert_eq!(urls["outputs"][0]["auth_username"], "viewer");
        assert!(!urls.to_string().contains("s3cret"));
        // Every key of the original's answer is there, null where it does not apply.
        for output in urls["outputs"].as_array().unwrap() {
            for key in ["content_rect", "url_expires_at_unix", "renew_after_unix"] {
                assert!(output.get(key).is_some(), "{key} missing in {output}");
            }
        }
        assert_eq!(
            urls["outputs"][0]["content_rect"],
            json!({"x": 0.0, "y": 0.0, "width": 1.0, "height": 1.0})
        );
        // The network contract (§5.6): signed HLS goes through the proxy, so it applies and,
        // with the request's host known and no port named as expected, holds.
        let contract = &urls["network_contract"];
        assert_eq!(contract["environment"], "generic", "{contract}");
        assert_eq!(contract["public_hls_mode"], "proxy");
        assert_eq!(contract["mode"], "proxy");
        assert_eq!(contract["status"], "ok");
        assert_eq!(contract["blocking_errors"], json!([]));
        assert_eq!(urls["public_base_path"], "/");
        assert!(
            urls["media_url_origin"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:"),
            "{urls}"
        );
    }
}

mod urls {
    use super::*;

    /// In a Home Assistant add-on whose WebRTC UDP port is not the one it publishes, `/urls`
    /// says so with the original's strings: a blocking mismatch, the WebRTC warning, and the
    /// port missing from the add-on's network snapshot.
    #[tokio::test]
    async fn an_addon_network_contract_names_what_does_not_match() {
        use std::path::Path;
        let dir = tempfile::tempdir().unwrap();
        let snapshot = dir.path().join("addon-network.json");
        std::fs::write(
            &snapshot,
            r#"{"network": {"8554/tcp": 8554, "18762/udp": null}}"#,
        )
        .unwrap();
        let service = Service::start_with(
            dir.path(),
            &[
                (
                    "TOPOSYNC_DEPLOYMENT_TARGET",
                    Path::new("home_assistant_addon"),
                ),
                ("TOPOSYNC_EXPECTED_WEBRTC_UDP_PORT", Path::new("8189")),
                ("TOPOSYNC_ADDON_NETWORK_SNAPSHOT_PATH", &snapshot),
            ],
        );
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"name": "Door", "path": "door", "outputs": [{"id": "h", "protocol": "hls"}]}),
            )
            .await;
        let id = created["id"].as_str().unwrap();
        let (status, urls) = service.get(&format!("/transmissions/{id}/urls")).await;
        assert_eq!(status, 200, "{urls}");
        let contract = &urls["network_contract"];
        assert_eq!(
            contract["environment"], "home_assistant_addon",
            "{contract}"
        );
        assert_eq!(contract["status"], "port_mismatch");
        assert_eq!(contract["strict"], true);
        assert_eq!(contract["published_ports"], json!(["8554/tcp"]));
        let mismatch = "WebRTC UDP active port 18762 does not match expected add-on port 8189.";
        assert_eq!(urls["blocking_errors"], json!([mismatch]), "{urls}");
        assert_eq!(
            contract["warnings"],
            json!([
                mismatch,
                "WebRTC UDP port 18762/udp is not published by the Home Assistant add-on; HLS proxy playback is unaffected, but low latency WebRTC media may fail."
            ])
        );
        let webrtc = urls["webrtc_warnings"][0].as_str().unwrap();
        assert!(
            webrtc.starts_with("WebRTC WHEP unavailable: WebRTC UDP active port 18762"),
            "{webrtc}"
        );
        assert!(
            !urls["warnings"].to_string().contains("UDP"),
            "WebRTC matters stay out of the general warnings: {urls}"
        );
        // The same contract in the plan, the engine status, each observability item and the
        // diagnostics.
        let (_, plan) = service
            .get(&format!("/transmissions/{id}/playback-plan?client=web"))
            .await;
        assert_eq!(&plan["network_contract"], contract, "{plan}");
        let (_, engine) = service.get("/engine/status").await;
        assert_eq!(&engine["network_contract"], contract, "{engine}");
        let (_, observed) = service.get("/runtime/observability").await;
        let item = &observed["items"][0];
        assert_eq!(item["output_id"], "h", "{observed}");
        assert_eq!(&item["network_contract"], contract, "{item}");
        let (status, diagnostics) = service.get("/runtime/diagnostics").await;
        assert_eq!(status, 200);
        assert_eq!(
            diagnostics["engine"]["network_contract"]["status"],
            "port_mismatch"
        );
    }

    /// The signed HLS URL (the entry before the last).
    fn hls_url(urls: &Value) -> &str {
        let outputs = urls["outputs"].as_array().unwrap();
        let url = outputs[outputs.len() - 2]["url"].as_str().unwrap();
        assert!(url.starts_with("/api/streams/media/hls/"), "{url}");
        url
    }

    /// The signed JSMpeg URL of the last output entry.
    fn jsmpeg_url(urls: &Value) -> &str {
        urls["outputs"].as_array().unwrap().last().unwrap()["url"]
            .as_str()
            .unwrap()
    }

    async fn urls_of(service: &Service, body: Value) -> Value {
        let (status, created) = service.post("/transmissions", &body).await;
        assert_eq!(status, 200, "{created}");
        let (status, urls) = service
            .get(&format!(
                "/transmissions/{}/urls",
                created["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(status, 200, "{urls}");
        urls
    }

    #[tokio::test]
    async fn one_enabled_output_uses_the_transmission_path() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let urls = urls_of(&service, json!({"name": "n", "path": "front-door", "outputs": [
            {"id": "hls_main", "protocol": "hls"}, {"id": "off", "protocol": "rtsp", "enabled": false}]})).await;
        assert_eq!(urls["engine_running"], false);
        assert_eq!(
            urls["warnings"],
            json!([
                "Engine is not running. URLs are based on preferred ports.",
                "go2rtc binary is unavailable: not installed (POST /api/streams/mse/download, or set TOPOSYNC_STREAMING_GO2RTC_PATH)"
            ])
        );
        let outputs = urls["outputs"].as_array().unwrap();
        assert_eq!(outputs.len(), 2, "disabled outputs have no URL: {urls}");
        // The HLS output also plays over JSMpeg through the service, with a signed URL.
        assert_eq!(outputs[1]["protocol"], "jsmpeg");
        assert_eq!(outputs[1]["output_id"], "hls_main");
        let jsmpeg = outputs[1]["url"].as_str().unwrap();
        assert!(
            jsmpeg.contains("/api/streams/media/jsmpeg/front-door/ws?media_token="),
            "{jsmpeg}"
        );
        assert_eq!(outputs[0]["resolved_engine_path"], "front-door");
        // Signed mode (the default): HLS through this service's proxy, with a token.
        let hls = outputs[0]["url"].as_str().unwrap();
        assert!(
            hls.starts_with("/api/streams/media/hls/front-door/index.m3u8?media_token="),
            "{hls}"
        );
        assert_eq!(outputs[0]["media_auth_type"], "signed_url");
        assert_eq!(outputs[0]["requires_auth"], false);
        assert_eq!(outputs[0]["auth_username"], Value::Null);
        // Open mode: the engine's own HLS URL, and a warning.
        service
            .patch(
                "/settings",
                &json!({"engine": {"media_auth": {"mode": "open"}}}),
            )
            .await;
        let (_, urls) = service
            .get(&format!(
                "/transmissions/{}/urls",
                urls["transmission_id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            urls["outputs"][0]["url"],
            "http://127.0.0.1:8888/front-door/index.m3u8"
        );
        assert!(
            urls["warnings"]
                .to_string()
                .contains("Open HLS media access"),
            "{urls}"
        );
    }

    #[tokio::test]
    async fn several_outputs_get_their_own_paths_and_overrides_win() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let urls = urls_of(
            &service,
            json!({"name": "n", "path": "yard", "outputs": [
            {"id": "main", "protocol": "rtsp"},
            {"id": "low", "protocol": "webrtc"},
            {"id": "hls", "protocol": "hls", "path": "Yard Public"}]}),
        )
        .await;
        let got: Vec<(&str, &str)> = urls["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["resolved_engine_path"].as_str().unwrap(),
                    o["url"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("yard-main", "rtsp://127.0.0.1:8554/yard-main"),
                ("yard-low", "http://127.0.0.1:8889/yard-low/whep"),
                ("yard-public", hls_url(&urls)),
                ("yard-public", jsmpeg_url(&urls)),
            ]
        );
    }

    #[tokio::test]
    async fn lan_exposure_uses_the_request_host_and_preferred_ports() {
        let dir = tempfile::tempdir().unwrap();
        // A LAN name the service is told it answers to.
        let service = Service::start_with(
            dir.path(),
            &[("TOPOSYNC_ALLOWED_HOSTS", std::path::Path::new("nas.local"))],
        );
        service
            .patch(
                "/settings",
                &json!({"engine": {"expose_to_lan": true, "preferred_ports": {"rtsp": 9554}}}),
            )
            .await;
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"name": "n", "path": "gate", "outputs": [{"id": "r", "protocol": "rtsp"}]}),
            )
            .await;
        let response = service
            .http
            .get(service.url(&format!(
                "/transmissions/{}/urls",
                created["id"].as_str().unwrap()
            )))
            .header("host", "nas.local:8100")
            .send()
            .await
            .unwrap();
        let urls: Value = response.json().await.unwrap();
        assert_eq!(urls["outputs"][0]["url"], "rtsp://nas.local:9554/gate");
    }

    #[tokio::test]
    async fn output_filter_and_unknown_ids() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"name": "n", "path": "p", "outputs": [
            {"id": "a", "protocol": "rtsp"}, {"id": "b", "protocol": "hls"}]}),
            )
            .await;
        let id = created["id"].as_str().unwrap();
        let (_, urls) = service
            .get(&format!("/transmissions/{id}/urls?output_id=b"))
            .await;
        assert_eq!(
            urls["outputs"].as_array().unwrap().len(),
            2,
            "b and its JSMpeg"
        );
        assert_eq!(urls["outputs"][0]["output_id"], "b");
        assert_eq!(urls["outputs"][1]["output_id"], "b");
        let (status, body) = service
            .get(&format!("/transmissions/{id}/urls?output_id=zzz"))
            .await;
        assert_eq!((status, body), (404, json!({"detail": "Output not found"})));
        let (status, body) = service.get("/transmissions/nope/urls").await;
        assert_eq!(
            (status, body),
            (404, json!({"detail": "Transmission not found"}))
        );
    }
}

mod snapshot {
    use super::*;

    #[tokio::test]
    async fn the_tree_follows_the_store_within_one_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, tree) = service.get("/runtime/actors").await;
        assert_eq!(tree["name"], "root");
        assert_eq!(tree["status"], "running");
        let kinds: Vec<&str> = tree["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            vec![
                "store",
                "engine",
                "sidecar",
                "transmissions_supervisor",
                "pipelines_supervisor",
                "demand",
                "jsmpeg_supervisor"
            ]
        );
        assert!(transmission_actors(&tree).is_empty());

        let (_, created) = service.post("/transmissions", &front_door()).await;
        let id = created["id"].as_str().unwrap().to_string();
        let name = format!("transmission:{id}");
        let (_, tree) = service.get("/runtime/actors").await;
        assert_eq!(transmission_actors(&tree), vec![name.clone()]);
        let node = &tree["children"][3]["children"][0];
        assert_eq!(node["state"]["outputs"][0]["engine_path"], "front-door");
        assert_eq!(node["state"]["writers"], json!([]));

        let mut changed = created.clone();
        changed["outputs"][0]["path"] = json!("porch");
        service.put(&format!("/transmissions/{id}"), &changed).await;
        let (_, tree) = service.get("/runtime/actors").await;
        assert_eq!(
            tree["children"][3]["children"][0]["state"]["outputs"][0]["engine_path"],
            "porch"
        );

        changed["enabled"] = json!(false);
        service.put(&format!("/transmissions/{id}"), &changed).await;
        let (_, tree) = service.get("/runtime/actors").await;
        assert!(
            transmission_actors(&tree).is_empty(),
            "disabled transmissions have no actor"
        );

        changed["enabled"] = json!(true);
        service.put(&format!("/transmissions/{id}"), &changed).await;
        let (_, tree) = service.get("/runtime/actors").await;
        assert_eq!(transmission_actors(&tree), vec![name]);

        service.delete(&format!("/transmissions/{id}")).await;
        let (_, tree) = service.get("/runtime/actors").await;
        assert!(transmission_actors(&tree).is_empty());
    }

    #[tokio::test]
    async fn transmissions_stored_before_a_restart_get_actors_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let id = {
            let service = Service::start(dir.path());
            let (_, created) = service.post("/transmissions", &front_door()).await;
            created["id"].as_str().unwrap().to_string()
        };
        let service = Service::start(dir.path());
        let (_, tree) = service.get("/runtime/actors").await;
        assert_eq!(
            transmission_actors(&tree),
            vec![format!("transmission:{id}")]
        );
    }
}

mod durability {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// The add-on's options for LAN exposure and ICE servers: written into the engine settings
    /// at every start, kept by a start without them, and a meaningless value stops the start
    /// with a message naming the variable (the stored settings untouched).
    #[tokio::test]
    async fn engine_options_from_the_environment_hold_at_every_start() {
        use std::path::Path;
        let dir = tempfile::tempdir().unwrap();
        let options = [
            ("TOPOSYNC_STREAMING_EXPOSE_TO_LAN", Path::new("true")),
            (
                "TOPOSYNC_STREAMING_WEBRTC_ICE_SERVERS",
                Path::new("stun:stun.example.org:3478,turns:relay.example.org"),
            ),
        ];
        let engine = |settings: Value| {
            (
                settings["engine"]["expose_to_lan"].clone(),
                settings["engine"]["webrtc_ice_servers"].clone(),
            )
        };
        let set = (
            json!(true),
            json!(["stun:stun.example.org:3478", "turns:relay.example.org"]),
        );
        let mut service = Service::start_with(dir.path(), &options);
        assert_eq!(engine(full_settings(&service).await), set);
        let (code, body) = service
            .patch("/settings", &json!({"engine": {"expose_to_lan": false}}))
            .await;
        assert_eq!(code, 200, "{body}");
        assert!(service.signal_and_wait(libc::SIGTERM).success());

        // Started again with the options: they win over the dashboard's change.
        let mut service = Service::start_with(dir.path(), &options);
        assert_eq!(engine(full_settings(&service).await), set);
        assert!(service.signal_and_wait(libc::SIGTERM).success());
        // Without them: what is stored stays.
        let mut service = Service::start(dir.path());
        assert_eq!(engine(full_settings(&service).await), set);
        assert!(service.signal_and_wait(libc::SIGTERM).success());

        let refused = std::process::Command::new(support::BIN)
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(dir.path())
            .env("TOPOSYNC_STREAMING_EXPOSE_TO_LAN", "maybe")
            .output()
            .unwrap();
        assert!(!refused.status.success());
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(
            said.contains("TOPOSYNC_STREAMING_EXPOSE_TO_LAN must be true or false, not 'maybe'"),
            "{said}"
        );
        let service = Service::start(dir.path());
        assert_eq!(engine(full_settings(&service).await), set);
    }

    #[tokio::test]
    async fn settings_survive_a_graceful_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut service = Service::start(dir.path());
        let (_, created) = service.post("/transmissions", &front_door()).await;
        service
            .patch(
                "/settings",
                &json!({"engine": {"webrtc_ice_servers": ["stun:stun.example:3478"]}}),
            )
            .await;
        let before = full_settings(&service).await;
        let status = service.signal_and_wait(libc::SIGTERM);
        assert!(status.success(), "SIGTERM is a clean shutdown: {status:?}");

        let service = Service::start(dir.path());
        assert_eq!(full_settings(&service).await, before);
        let (_, list) = service.get("/transmissions").await;
        assert_eq!(list[0]["id"], created["id"]);
    }

    #[tokio::test]
    async fn sigkill_during_a_burst_of_writes_loses_no_acknowledged_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut service = Service::start(dir.path());
        let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
        let base = service.url("/transmissions");
        let writers: Vec<_> = (0..4)
            .map(|writer| {
                let acknowledged = acknowledged.clone();
                let base = base.clone();
                let http = service.http.clone();
                tokio::spawn(async move {
                    for n in 0.. {
                        let id = format!("w{writer}-{n}");
                        let body = json!({"id": id, "name": id, "path": id});
                        match http.post(&base).json(&body).send().await {
                            Ok(response) if response.status() == 200 => {
                                acknowledged.lock().unwrap().push(id)
                            }
                            _ => return,
                        }
                    }
                })
            })
            .collect();
        eventually(std::time::Duration::from_secs(30), || {
            let count = acknowledged.lock().unwrap().len();
            async move { (count >= 60).then_some(()) }
        })
        .await;
        service.signal_and_wait(libc::SIGKILL);
        for writer in writers {
            writer.await.unwrap();
        }
        let acknowledged = acknowledged.lock().unwrap().clone();

        let service = Service::start(dir.path());
        let (_, health) = service.get("/health").await;
        assert_eq!(
            health["warnings"],
            json!([]),
            "the file loads cleanly: {health}"
        );
        let stored = service.transmission_ids().await;
        for id in &acknowledged {
            assert!(stored.contains(id), "acknowledged write {id} was lost");
        }
    }

    #[tokio::test]
    async fn fifty_parallel_updates_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let mut ids = Vec::new();
        for n in 0..50 {
            let (_, created) = service
                .post(
                    "/transmissions",
                    &json!({"name": format!("t{n}"), "path": format!("t{n}")}),
                )
                .await;
            ids.push(created);
        }
        let updates = ids.iter().map(|created| {
            let mut body = created.clone();
            body["name"] = json!(format!("renamed-{}", created["path"].as_str().unwrap()));
            let url = service.url(&format!(
                "/transmissions/{}",
                created["id"].as_str().unwrap()
            ));
            let http = service.http.clone();
            async move {
                http.put(url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        });
        let statuses = futures_util::future::join_all(updates).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        let (_, list) = service.get("/transmissions").await;
        for t in list.as_array().unwrap() {
            assert_eq!(
                t["name"].as_str().unwrap(),
                format!("renamed-{}", t["path"].as_str().unwrap())
            );
        }
        assert_eq!(list.as_array().unwrap().len(), 50);
    }

    #[tokio::test]
    async fn a_corrupt_settings_file_is_kept_aside_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("streaming-settings.json");
        std::fs::write(&path, b"{ this is not json").unwrap();
        let service = Service::start(dir.path());
        let (status, health) = service.get("/health").await;
        assert_eq!(status, 200);
        assert_eq!(health["status"], "ok");
        let warning = health["warnings"][0].as_str().expect("a warning");
        assert!(warning.contains("unreadable"), "{warning}");
        let moved = health["settings"]["recovery"]["moved_to"].as_str().unwrap();
        assert_eq!(std::fs::read(moved).unwrap(), b"{ this is not json");
        let (status, _) = service.post("/transmissions", &front_door()).await;
        assert_eq!(status, 200, "the service works from defaults");
    }

    #[tokio::test]
    async fn a_recovery_is_reported_until_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("streaming-settings.json"), b"\x00garbage").unwrap();
        let mut service = Service::start(dir.path());
        let warnings = |health: &Value| health["warnings"].as_array().unwrap().len();
        assert_eq!(warnings(&service.get("/health").await.1), 1);
        // A restart without a write still says so: defaults are what runs.
        service.signal_and_wait(libc::SIGTERM);
        let service = Service::start(dir.path());
        let (_, health) = service.get("/health").await;
        assert_eq!(warnings(&health), 1, "{health}");
        let (status, answer) = service
            .post("/settings/recovery/acknowledge", &json!({}))
            .await;
        assert_eq!(status, 200);
        assert_eq!(answer, json!({"acknowledged": true, "had_recovery": true}));
        assert_eq!(warnings(&service.get("/health").await.1), 0);
        drop(service);
        let service = Service::start(dir.path());
        assert_eq!(
            warnings(&service.get("/health").await.1),
            0,
            "acknowledged for good"
        );
    }

    #[tokio::test]
    async fn one_bad_entry_is_set_aside_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let good = |id: &str| json!({"id": id, "name": id, "path": id, "outputs": []});
        let envelope = json!({"schema_version": 1, "revision": 7, "saved_at": "2026-01-01T00:00:00Z",
        "settings": {"transmissions": [
            good("first"),
            {"id": "broken", "name": "b", "path": "b", "outputs": [{"id": "o", "protocol": "rtsp", "fps_limit": 9999}]},
            good("last"),
        ]}});
        let path = dir.path().join("streaming-settings.json");
        std::fs::write(&path, serde_json::to_vec(&envelope).unwrap()).unwrap();
        let mut service = Service::start(dir.path());
        assert_eq!(service.transmission_ids().await, ["first", "last"]);
        let (_, health) = service.get("/health").await;
        let warning = health["warnings"][0].as_str().unwrap().to_string();
        assert!(warning.contains("transmissions[1] (broken)"), "{warning}");
        let rejected = &health["settings"]["recovery"]["rejected"][0];
        assert_eq!(rejected["section"], "transmissions");
        assert_eq!(rejected["id"], "broken");
        // The original, bad entry included, is kept as it was.
        let moved = health["settings"]["recovery"]["moved_to"].as_str().unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&std::fs::read(moved).unwrap()).unwrap(),
            envelope
        );
        // Restarted, the same; a successful write supersedes it.
        service.signal_and_wait(libc::SIGTERM);
        let service = Service::start(dir.path());
        let (_, health) = service.get("/health").await;
        assert_eq!(health["warnings"].as_array().unwrap().len(), 1, "{health}");
        service.post("/transmissions", &front_door()).await;
        let (_, health) = service.get("/health").await;
        assert_eq!(health["warnings"], json!([]));
    }
}

/// Writers feeding frames over HTTP, and what arbitration selects, seen through runtime health.
mod ingest {
    use super::*;
    use std::time::Duration;

    async fn transmission(service: &Service, arbitration: &str) -> String {
        let (status, created) = service
            .post(
                "/transmissions",
                &json!({"name": "n", "path": "p", "arbitration": arbitration}),
            )
            .await;
        assert_eq!(status, 200, "{created}");
        created["id"].as_str().unwrap().to_string()
    }

    async fn send_frame(
        service: &Service,
        id: &str,
        writer: &str,
        query: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let response = service
            .http
            .post(service.url(&format!(
                "/transmissions/{id}/writers/{writer}/frame?{query}"
            )))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    const QVGA: &str = "width=320&height=240";

    /// Runs `tests/writers/local_writer.py` with `args` after the socket path; its output lines.
    fn local_writer(service_dir: &std::path::Path, args: &[&str]) -> (bool, Vec<String>) {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/writers/local_writer.py");
        let socket = service_dir.join("runtime/streaming/writers.sock");
        let output = std::process::Command::new("/usr/bin/python3")
            .arg(script)
            .arg(socket)
            .args(args)
            .output()
            .unwrap();
        let lines = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        (output.status.success(), lines)
    }

    /// Writers on the same host feed frames through the local socket (only this user may
    /// connect), copied from the stream, shared as sealed memfds or lent from a ring of memfds;
    /// closing the socket closes the writer; bad headers, unsealed memfds and a ring slot named
    /// again before it was freed are refused with a reason and change nothing.
    #[tokio::test]
    async fn local_writers_feed_frames_through_the_unix_socket() {
        use std::os::unix::fs::PermissionsExt;
        use toposync_actors::transmissions::arbitration::Frame;
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let id = transmission(&service, "latest").await;
        let socket = dir.path().join("runtime/streaming/writers.sock");
        let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the service's user may connect");

        for (transport, colour, channel) in [
            ("stream", "0,0,255", 2),
            ("memfd", "255,0,0", 0),
            ("memfd_ring", "0,255,0", 1),
        ] {
            let writer = format!("local:{transport}");
            // More frames than the ring has slots: each slot is freed and filled again.
            let (ok, lines) = local_writer(
                dir.path(),
                &[&id, &writer, "160x120", transport, "12", colour, "0", "50"],
            );
            assert!(ok, "{lines:?}");
            let ready: Vec<Value> = lines
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let mut expected = json!({"type": "ready", "frame_bytes": 57600});
            if transport == "memfd_ring" {
                expected["slots"] = json!(4);
            }
            assert_eq!(ready, [expected], "{transport}");
            let health = service.transmission_health(&id).await;
            let record = health["writers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|w| w["writer_id"] == writer.as_str())
                .cloned()
                .unwrap_or_else(|| panic!("no writer {writer}: {health}"));
            assert_eq!(record["has_frame"], true, "{record}");
            assert_eq!(
                record["lifecycle"], "close",
                "hanging up closed it: {record}"
            );
            let (_, headers, still) = super::stills::still(&service, &id).await;
            assert_eq!(headers["x-toposync-frame-state"], "live");
            let shown = Frame::from_jpeg(&still).unwrap();
            assert_eq!((shown.width, shown.height), (160, 120));
            assert!(
                shown.data[channel] > 200,
                "{transport}: the writer's colour"
            );
        }

        let refused = |args: &[&str]| local_writer(dir.path(), args);
        let (ok, lines) = refused(&["nope", "w", "160x120", "stream", "1", "0,0,0"]);
        assert!(!ok);
        let answer: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(
            answer,
            json!({"type": "error", "detail": "Transmission not found or disabled"})
        );
        let (ok, lines) = refused(&[&id, "w", "9000x10", "stream", "1", "0,0,0"]);
        assert!(
            !ok && lines[0].contains("width must be 1..7680"),
            "{lines:?}"
        );
        // Unsealed, the writer could shrink the file under a reader (SIGBUS) or change it.
        let (_, lines) = refused(&[&id, "unsealed", "16x16", "memfd-unsealed", "3", "0,0,0"]);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("must be sealed with F_SEAL_WRITE and F_SEAL_SHRINK")),
            "{lines:?}"
        );
        // The writer still owns the slot the transmission shows; rewriting it would change a
        // frame under the outputs.
        let (_, lines) = refused(&[&id, "eager", "16x16", "memfd_ring-eager", "3", "0,0,0"]);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("slot 0 is still in use; wait for its free line")),
            "{lines:?}"
        );
        let (ok, lines) = refused(&[&id, "w", "16x16", "memfd_ring:9", "1", "0,0,0"]);
        assert!(!ok && lines[0].contains("slots must be 2..8"), "{lines:?}");
        let health = service.transmission_health(&id).await;
        assert!(
            health["writers"]
                .as_array()
                .unwrap()
                .iter()
                .all(|w| w["writer_id"] != "unsealed" && w["writer_id"] != "w"),
            "refused writers changed nothing: {health}"
        );
    }

    fn qvga() -> Vec<u8> {
        vec![128u8; 320 * 240 * 3]
    }

    /// `/runtime/health`, `/runtime/outputs` and `/runtime/encoders` read as the original's
    /// clients read them: lists sorted by id, the stale policy, the status rules, and a
    /// classification with its evidence and summary.
    #[tokio::test]
    async fn runtime_health_has_the_original_shape() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (status, fed) = service
            .post(
                "/transmissions",
                &json!({"name": "f", "path": "f", "outputs": [
                    {"id": "main", "protocol": "rtsp", "resolution": {"width": 320, "height": 240}}
                ]}),
            )
            .await;
        assert_eq!(status, 200, "{fed}");
        let fed = fed["id"].as_str().unwrap().to_string();
        let (status, quiet) = service
            .post(
                "/transmissions",
                &json!({"name": "q", "path": "q", "outputs": [], "enabled": false}),
            )
            .await;
        assert_eq!(status, 200, "{quiet}");
        let quiet = quiet["id"].as_str().unwrap().to_string();
        let (status, _) = send_frame(&service, &fed, "camera:raw", QVGA, qvga()).await;
        assert_eq!(status, 200);

        let response = service
            .http
            .get(service.url("/runtime/health"))
            .header("x-ingress-path", "/api/hassio_ingress/tok")
            .send()
            .await
            .unwrap();
        let health: Value = response.json().await.unwrap();
        assert_eq!(health["stale_after_seconds"], 3.0, "{health}");
        assert_eq!(health["placeholder_after_seconds"], 8.0);
        assert!(health["updated_at_unix"].as_f64().unwrap() > 1.7e9);
        assert_eq!(health["public_base_path"], "/api/hassio_ingress/tok");
        assert!(
            health["media_url_origin"]
                .as_str()
                .unwrap()
                .ends_with("/api/hassio_ingress/tok"),
            "{health}"
        );
        assert_eq!(health["hls_proxy_reachable"], true);
        assert_eq!(health["hls_playlist_rewrite_ok"], true);
        let all = health["transmissions"].as_array().unwrap();
        let ids: Vec<&str> = all
            .iter()
            .map(|t| t["transmission_id"].as_str().unwrap())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "sorted by id");

        let fed_health = all
            .iter()
            .find(|t| t["transmission_id"] == fed.as_str())
            .unwrap();
        assert_eq!(fed_health["enabled"], true);
        assert_eq!(fed_health["selected_writer_id"], "camera:raw");
        assert_eq!(fed_health["fallback_active"], false);
        assert_eq!(fed_health["stale"], false);
        assert_eq!(fed_health["placeholder_active"], false);
        assert!(
            fed_health["last_incoming_frame_age_seconds"]
                .as_f64()
                .unwrap()
                < 3.0
        );
        assert!(fed_health["last_live_frame_at_unix"].as_f64().unwrap() > 1.7e9);
        assert_eq!(fed_health["stream_behavior"], "continuous");
        // Frames arrive but nobody watches: no publisher runs, so the outputs are offline.
        assert_eq!(fed_health["status"], "offline", "{fed_health}");
        let outputs = fed_health["outputs"].as_array().unwrap();
        assert_eq!(outputs.len(), 1, "{fed_health}");
        assert_eq!(outputs[0]["width"], 320);
        for output in outputs {
            assert_eq!(output["publisher_running"], false);
            assert_eq!(output["viewer_count"], 0);
            assert_eq!(output["demand_signal"], false);
            assert_eq!(output["classification"], "unknown");
            assert_eq!(
                output["evidence"][0],
                "Output is idle because no viewer or heartbeat demand is active."
            );
            assert_eq!(
                output["output_key"],
                format!("{fed}:{}", output["output_id"].as_str().unwrap())
            );
        }
        assert_eq!(fed_health["summary_status"], "warming");
        assert_eq!(fed_health["technical_status"], fed_health["classification"]);

        // A disabled transmission without outputs gets the synthetic "default" output.
        let quiet_health = all
            .iter()
            .find(|t| t["transmission_id"] == quiet.as_str())
            .unwrap();
        assert_eq!(quiet_health["status"], "offline");
        assert_eq!(quiet_health["summary_message"], "Stream is disabled.");
        assert_eq!(quiet_health["outputs"][0]["output_id"], "default");
        assert_eq!(quiet_health["outputs"][0]["protocol"], "rtsp");
        assert_eq!(quiet_health["outputs"][0]["resolved_engine_path"], "q");

        let (status, outputs) = service.get("/runtime/outputs").await;
        assert_eq!(status, 200);
        let entry = &outputs["outputs"][0];
        assert_eq!(entry["transmission_id"], fed.as_str(), "{outputs}");
        assert_eq!(entry["selected_writer_id"], "camera:raw");
        assert_eq!(entry["demand_driven"], false);
        assert_eq!(entry["publisher_frames_sent"], 0);

        let (status, encoders) = service.get("/runtime/encoders").await;
        assert_eq!(status, 200, "{encoders}");
        assert_eq!(encoders["supported_encoders"], json!(["libx264"]));
        assert_eq!(encoders["policy"]["quarantine_after_restarts"], 2);
        assert_eq!(encoders["states"], json!([]));
        assert!(
            encoders["ffmpeg_path"]
                .as_str()
                .unwrap()
                .ends_with("ffmpeg")
        );
        assert_eq!(encoders["outputs"][0]["running"], false);
        let (status, cleared) = service
            .post(
                "/runtime/encoders/quarantine/clear",
                &json!({"encoder": "h264_nvenc"}),
            )
            .await;
        assert_eq!(
            (status, &cleared),
            (200, &json!({"cleared": 0, "encoders": []}))
        );
        let (status, refused) = service
            .post(
                "/runtime/encoders/quarantine/clear",
                &json!({"encoder": "x".repeat(121)}),
            )
            .await;
        assert_eq!(status, 422);
        assert_eq!(refused["detail"][0]["loc"], json!(["body", "encoder"]));
    }

    #[tokio::test]
    async fn priority_decides_and_closing_hands_over() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let id = transmission(&service, "priority_latest").await;
        let health = service.transmission_health(&id).await;
        assert_eq!(health["fallback_reason"], "no_frame");
        assert_eq!(health["active_writer_id"], Value::Null);

        let (status, _) = send_frame(
            &service,
            &id,
            "vision:overlay",
            &format!("{QVGA}&priority=10&lifecycle=open"),
            qvga(),
        )
        .await;
        assert_eq!(status, 200);
        let (status, _) = send_frame(
            &service,
            &id,
            "camera:raw",
            &format!("{QVGA}&priority=1&lifecycle=open"),
            qvga(),
        )
        .await;
        assert_eq!(status, 200);
        let health = service.transmission_health(&id).await;
        assert_eq!(health["active_writer_id"], "vision:overlay");
        assert_eq!(health["selected_writer_id"], "vision:overlay");
        assert_eq!(health["fallback_reason"], Value::Null);
        assert_eq!(health["writers"].as_array().unwrap().len(), 2);

        let (status, _) = service
            .post(
                &format!("/transmissions/{id}/writers/vision:overlay/close"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200);
        let health = service.transmission_health(&id).await;
        assert_eq!(
            health["active_writer_id"], "camera:raw",
            "a closed writer is ineligible at once"
        );
        let overlay = health["writers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["writer_id"] == "vision:overlay")
            .unwrap();
        assert_eq!(overlay["lifecycle"], "close");
    }

    #[tokio::test]
    async fn a_writer_that_stops_sending_goes_stale_and_the_last_frame_stays() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let id = transmission(&service, "latest").await;
        send_frame(&service, &id, "w", QVGA, qvga()).await;
        assert_eq!(
            service.transmission_health(&id).await["active_writer_id"],
            "w"
        );
        let health = eventually(Duration::from_secs(10), || async {
            let health = service.transmission_health(&id).await;
            health["active_writer_id"].is_null().then_some(health)
        })
        .await;
        assert_eq!(health["fallback_reason"], "no_active_writer");
        assert_eq!(health["selected_writer_id"], "w");
        assert!(health["selected_frame_age_seconds"].as_f64().unwrap() > 2.0);
    }

    #[tokio::test]
    async fn a_720p_frame_fits_and_a_wrong_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let id = transmission(&service, "latest").await;
        let (status, body) = send_frame(
            &service,
            &id,
            "w",
            "width=1280&height=720",
            vec![0u8; 1280 * 720 * 3],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = send_frame(&service, &id, "w2", QVGA, vec![0u8; 100]).await;
        assert_eq!(status, 422);
        assert_eq!(body["detail"][0]["loc"], json!(["body"]));
        assert!(
            body["detail"][0]["msg"]
                .as_str()
                .unwrap()
                .contains("230400 bytes, got 100")
        );
        let health = service.transmission_health(&id).await;
        assert_eq!(
            health["writers"].as_array().unwrap().len(),
            1,
            "the refused frame changed nothing"
        );
    }

    #[tokio::test]
    async fn bad_queries_and_unknown_transmissions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let id = transmission(&service, "latest").await;
        let (status, body) = send_frame(&service, &id, "w", "height=240", qvga()).await;
        assert_eq!((status, first_loc(&body)), (422, "query.width".to_string()));
        let (status, body) = send_frame(&service, &id, "w", "width=0&height=240", qvga()).await;
        assert_eq!((status, first_loc(&body)), (422, "query.width".to_string()));
        let (status, body) = send_frame(
            &service,
            &id,
            "w",
            &format!("{QVGA}&lifecycle=close"),
            qvga(),
        )
        .await;
        assert_eq!(
            (status, first_loc(&body)),
            (422, "query.lifecycle".to_string())
        );
        let (status, body) = send_frame(&service, "nope", "w", QVGA, qvga()).await;
        assert_eq!(
            (status, body),
            (404, json!({"detail": "Transmission not found or disabled"}))
        );
        assert_eq!(service.transmission_health(&id).await["writers"], json!([]));
    }

    mod websocket {
        use super::*;
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;

        type Socket = tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >;

        async fn connect(service: &Service, id: &str, writer: &str, query: &str) -> Socket {
            let url = service
                .url(&format!("/transmissions/{id}/writers/{writer}/ws?{query}"))
                .replacen("http", "ws", 1);
            tokio_tungstenite::connect_async(service.ws_request(&url))
                .await
                .expect("upgrade accepted")
                .0
        }

        /// A real JPEG, as a camera or a vision pipeline would send it.
        fn jpeg(size: &str) -> Vec<u8> {
            let output = std::process::Command::new("ffmpeg")
                .args([
                    "-v",
                    "error",
                    "-f",
                    "lavfi",
                    "-i",
                    &format!("testsrc=size={size}"),
                    "-frames:v",
                    "1",
                    "-f",
                    "mjpeg",
                    "-",
                ])
                .output()
                .expect("ffmpeg runs");
            assert!(output.status.success());
            output.stdout
        }

        async fn next_error(socket: &mut Socket) -> String {
            loop {
                match tokio::time::timeout(Duration::from_secs(5), socket.next())
                    .await
                    .expect("an answer")
                {
                    Some(Ok(Message::Text(text))) => {
                        let value: Value = serde_json::from_str(&text).unwrap();
                        assert_eq!(value["type"], "error");
                        return value["detail"].as_str().unwrap().to_string();
                    }
                    Some(Ok(_)) => continue,
                    other => panic!("socket ended: {other:?}"),
                }
            }
        }

        async fn active_writer(service: &Service, id: &str, expected: &str) -> Value {
            eventually(Duration::from_secs(10), || async {
                let health = service.transmission_health(id).await;
                (health["active_writer_id"] == expected).then_some(health)
            })
            .await
        }

        /// The transmission stops and starts again under an open writer socket: the socket says
        /// so while it is gone, then feeds the new transmission (it once kept the dead one).
        #[tokio::test]
        async fn a_writer_socket_follows_its_transmission_through_a_restart() {
            let dir = tempfile::tempdir().unwrap();
            let service = Service::start(dir.path());
            let id = transmission(&service, "latest").await;
            let mut socket = connect(&service, &id, "cam", "").await;
            let frame = jpeg("320x240");
            socket
                .send(Message::Binary(frame.clone().into()))
                .await
                .unwrap();
            active_writer(&service, &id, "cam").await;

            let (_, all) = service.get("/transmissions").await;
            let stored = all.as_array().unwrap()[0].clone();
            let mut stopped = stored.clone();
            stopped["enabled"] = json!(false);
            let (code, _) = service.put(&format!("/transmissions/{id}"), &stopped).await;
            assert_eq!(code, 200);
            socket
                .send(Message::Binary(frame.clone().into()))
                .await
                .unwrap();
            assert_eq!(
                next_error(&mut socket).await,
                "the transmission is not running any more"
            );

            let mut started = stored.clone();
            started["enabled"] = json!(true);
            let (code, _) = service.put(&format!("/transmissions/{id}"), &started).await;
            assert_eq!(code, 200);
            socket.send(Message::Binary(frame.into())).await.unwrap();
            let health = active_writer(&service, &id, "cam").await;
            assert_eq!(health["selected_writer_id"], "cam", "{health}");
        }

        #[tokio::test]
        async fn two_socket_writers_with_priorities_and_closing_a_socket_closes_its_writer() {
            let dir = tempfile::tempdir().unwrap();
            let service = Service::start(dir.path());
            let id = transmission(&service, "priority_latest").await;
            let mut high = connect(&service, &id, "vision:overlay", "priority=10").await;
            let mut low = connect(&service, &id, "camera:raw", "priority=1").await;
            high.send(Message::Binary(jpeg("320x240").into()))
                .await
                .unwrap();
            low.send(Message::Text(
                r#"{"type": "format", "format": "bgr24", "width": 320, "height": 240}"#.into(),
            ))
            .await
            .unwrap();
            low.send(Message::Binary(qvga().into())).await.unwrap();
            // Whichever frame arrived first holds the 0.5 s sticky window; then priority decides.
            // (Each socket is read on its own: wait until both writers' frames have arrived.)
            let health = eventually(Duration::from_secs(10), || async {
                let health = service.transmission_health(&id).await;
                (health["active_writer_id"] == "vision:overlay"
                    && health["writers"].as_array().is_some_and(|w| w.len() == 2))
                .then_some(health)
            })
            .await;
            assert_eq!(health["selected_writer_id"], "vision:overlay", "{health}");

            high.close(None).await.unwrap();
            low.send(Message::Binary(qvga().into())).await.unwrap();
            let health = active_writer(&service, &id, "camera:raw").await;
            let overlay = health["writers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|w| w["writer_id"] == "vision:overlay")
                .unwrap();
            assert_eq!(overlay["lifecycle"], "close");
        }

        #[tokio::test]
        async fn bad_frames_get_a_clear_error_and_change_nothing() {
            let dir = tempfile::tempdir().unwrap();
            let service = Service::start(dir.path());
            let id = transmission(&service, "latest").await;
            let mut socket = connect(&service, &id, "w", "").await;
            socket
                .send(Message::Binary(b"not a jpeg".to_vec().into()))
                .await
                .unwrap();
            assert!(
                next_error(&mut socket)
                    .await
                    .starts_with("not a decodable JPEG")
            );
            socket
                .send(Message::Text(
                    r#"{"type": "format", "format": "bgr24", "width": 320, "height": 240}"#.into(),
                ))
                .await
                .unwrap();
            socket
                .send(Message::Binary(vec![0u8; 10].into()))
                .await
                .unwrap();
            assert_eq!(
                next_error(&mut socket).await,
                "a 320x240 BGR24 frame is 230400 bytes, got 10"
            );
            socket
                .send(Message::Text(r#"{"type": "dance"}"#.into()))
                .await
                .unwrap();
            assert!(
                next_error(&mut socket)
                    .await
                    .starts_with("invalid control message")
            );
            assert_eq!(
                service.transmission_health(&id).await["writers"],
                json!([]),
                "nothing reached the transmission"
            );

            socket
                .send(Message::Text(r#"{"type": "close"}"#.into()))
                .await
                .unwrap();
            socket.send(Message::Binary(qvga().into())).await.unwrap();
            assert!(
                next_error(&mut socket)
                    .await
                    .starts_with("the writer is closed")
            );
        }

        #[tokio::test]
        async fn unknown_transmissions_refuse_the_upgrade() {
            let dir = tempfile::tempdir().unwrap();
            let service = Service::start(dir.path());
            let url = service
                .url("/transmissions/nope/writers/w/ws")
                .replacen("http", "ws", 1);
            let err = tokio_tungstenite::connect_async(service.ws_request(&url))
                .await
                .unwrap_err();
            let tokio_tungstenite::tungstenite::Error::Http(response) = err else {
                panic!("{err:?}")
            };
            assert_eq!(response.status(), 404);
        }
    }
}

/// The camera registry, pipelines, publications and the wizard over HTTP: what a user sends, what
/// comes back, and that a refused request changes nothing.
mod registry {
    use super::*;

    fn api(service: &Service, path: &str) -> String {
        format!("{}{path}", service.root)
    }

    async fn send(
        service: &Service,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = service.http.request(method, api(service, path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn lobby() -> Value {
        json!({"id": "lobby", "name": "Lobby", "sources": [
            {"id": "main", "role": "main", "is_default": true,
             "origin": {"rtsp_url": "rtsp://10.0.0.9/main", "stream_username": "admin", "stream_password": "pw1"}},
            {"id": "sub", "role": "sub", "origin": {"rtsp_url": "rtsp://10.0.0.9/sub"}}]})
    }

    async fn with_lobby() -> (tempfile::TempDir, Service) {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (code, body) = send(
            &service,
            reqwest::Method::POST,
            "/api/cameras",
            Some(lobby()),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        (dir, service)
    }

    async fn document(service: &Service) -> Value {
        let (_, settings) = service.get("/settings?include_secrets=true").await;
        settings
    }

    #[tokio::test]
    async fn a_camera_generates_its_publications_and_secrets_stay_hidden() {
        let (_dir, service) = with_lobby().await;
        let (_, cameras) = send(&service, reqwest::Method::GET, "/api/cameras", None).await;
        assert_eq!(
            cameras[0]["sources"][0]["origin"]["stream_password"],
            "********"
        );
        let (_, cameras) = send(
            &service,
            reqwest::Method::GET,
            "/api/cameras?include_secrets=true",
            None,
        )
        .await;
        assert_eq!(cameras[0]["sources"][0]["origin"]["stream_password"], "pw1");
        let (_, settings) = service.get("/settings").await;
        assert!(!settings.to_string().contains("pw1"), "{settings}");

        let (_, publications) = service.get("/publications?camera_id=lobby").await;
        let ids: Vec<&str> = publications
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["camera:lobby:main", "camera:lobby:sub"]);
        assert_eq!(publications[1]["label"], "Baixa resolução · sub");
        let (_, profiles) = service.get("/quality-profiles").await;
        assert_eq!(profiles["default_profile_id"], "stable_apple_tv");
        assert_eq!(profiles["profiles"][0]["id"], "quad_grid");

        // A password sent back as the marker keeps the stored one.
        let mut edited = cameras[0].clone();
        edited["name"] = json!("Lobby (east)");
        edited["sources"][0]["origin"]["stream_password"] = json!("********");
        let (code, _) = send(
            &service,
            reqwest::Method::PUT,
            "/api/cameras/lobby",
            Some(edited),
        )
        .await;
        assert_eq!(code, 200);
        let (_, stored) = send(
            &service,
            reqwest::Method::GET,
            "/api/cameras/lobby?include_secrets=true",
            None,
        )
        .await;
        assert_eq!(stored["sources"][0]["origin"]["stream_password"], "pw1");
        let (_, views) = service.get("/live-views").await;
        assert_eq!(views[0]["name"], "Lobby (east)");

        // Reconciling again changes nothing.
        let before = document(&service).await;
        let (code, answer) = service.post("/reconcile", &json!({})).await;
        assert_eq!(code, 200, "{answer}");
        assert_eq!(answer["warnings"], json!([]));
        assert_eq!(
            document(&service).await["transmissions"],
            before["transmissions"]
        );

        let (code, _) = send(
            &service,
            reqwest::Method::DELETE,
            "/api/cameras/lobby",
            None,
        )
        .await;
        assert_eq!(code, 200);
        let after = document(&service).await;
        assert_eq!(after["transmissions"], json!([]));
        assert_eq!(after["pipelines"], json!([]));
        assert_eq!(after["camera_live_views"], json!([]));
    }

    #[tokio::test]
    async fn bad_cameras_are_refused_naming_the_field_and_change_nothing() {
        let (_dir, service) = with_lobby().await;
        let before = document(&service).await;
        let cases = [
            (
                json!({"id": "x", "sources": [{"id": ""}]}),
                422,
                "body.sources.0.id",
            ),
            (
                json!({"id": "x", "sources": [{"id": "a", "enabled": "yes"}]}),
                422,
                "body.sources.0.enabled",
            ),
            (
                json!({"id": "x", "sources": [{"id": "a"}, {"id": "a"}]}),
                422,
                "body.sources.1.id",
            ),
            (json!({"id": "lobby"}), 409, "body.id"),
            (json!({"id": "x", "sources": "none"}), 422, "body.sources"),
        ];
        for (body, status, loc) in cases {
            let (code, answer) = send(
                &service,
                reqwest::Method::POST,
                "/api/cameras",
                Some(body.clone()),
            )
            .await;
            assert_eq!(code, status, "{body} -> {answer}");
            assert_eq!(first_loc(&answer), loc, "{answer}");
        }
        let (code, _) = send(
            &service,
            reqwest::Method::PUT,
            "/api/cameras/lobby",
            Some(json!({"id": "other"})),
        )
        .await;
        assert_eq!(code, 400);
        let (code, _) = send(
            &service,
            reqwest::Method::PUT,
            "/api/cameras/nope",
            Some(json!({})),
        )
        .await;
        assert_eq!(code, 404);
        let (code, body) = service
            .put(
                "/publications/camera-sources/lobby/main",
                &json!({"quality_policy": {"default_profile_id": "8k"}}),
            )
            .await;
        assert_eq!(code, 422, "{body}");
        assert_eq!(first_loc(&body), "body.quality_policy.default_profile_id");
        let (code, body) = service
            .put("/publications/camera-sources/lobby/ghost", &json!({}))
            .await;
        assert_eq!(
            (code, body),
            (404, json!({"detail": "Camera source not found"}))
        );
        assert_eq!(document(&service).await, before, "nothing changed");
    }

    #[tokio::test]
    async fn generated_artifacts_are_read_only_and_point_to_their_owner() {
        let (_dir, service) = with_lobby().await;
        let (_, transmissions) = service.get("/transmissions").await;
        let generated = transmissions[0].clone();
        let id = generated["id"].as_str().unwrap();
        let (code, body) = service
            .put(&format!("/transmissions/{id}"), &generated)
            .await;
        assert_eq!(code, 409, "{body}");
        let message = body["detail"][0]["msg"].as_str().unwrap();
        assert!(
            message.contains("/api/streams/publications/camera-sources/lobby/main"),
            "{message}"
        );
        let (code, _) = service.delete(&format!("/transmissions/{id}")).await;
        assert_eq!(code, 409);
        let name = format!("implicit__{id}");
        let (code, body) = send(
            &service,
            reqwest::Method::DELETE,
            &format!("/api/pipelines/{name}"),
            None,
        )
        .await;
        assert_eq!(code, 409, "{body}");

        // Relabelling through the publication is the way.
        let (code, body) = service
            .put(
                "/publications/camera-sources/lobby/main",
                &json!({"label": "Entrance"}),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        let (_, transmissions) = service.get("/transmissions").await;
        assert_eq!(transmissions[0]["name"], "Entrance");
    }

    #[tokio::test]
    async fn a_pipeline_cameras_password_is_redacted_and_round_trips() {
        let (_dir, service) = with_lobby().await;
        let graph = json!({"graph": {"nodes": [
            {"id": "cam", "operator": "camera.source",
             "config": {"rtsp_url": "rtsp://10.0.0.7/live", "username": "u", "password": "hunter2"}},
            {"id": "out", "operator": "stream.publish_video", "config": {}}],
            "edges": [{"from": {"node": "cam"}, "to": {"node": "out"}}]}});
        let (code, stored) = send(
            &service,
            reqwest::Method::PUT,
            "/api/pipelines/adhoc",
            Some(graph),
        )
        .await;
        assert_eq!(code, 200, "{stored}");
        assert_eq!(
            stored["graph"]["nodes"][0]["config"]["password"],
            "********"
        );
        let (_, settings) = service.get("/settings").await;
        assert!(!settings.to_string().contains("hunter2"), "{settings}");
        // Sending back what was shown keeps the stored password.
        let (code, _) = send(
            &service,
            reqwest::Method::PUT,
            "/api/pipelines/adhoc",
            Some(stored),
        )
        .await;
        assert_eq!(code, 200);
        let (_, secret) = send(
            &service,
            reqwest::Method::GET,
            "/api/pipelines/adhoc?include_secrets=true",
            None,
        )
        .await;
        assert_eq!(secret["graph"]["nodes"][0]["config"]["password"], "hunter2");
    }

    #[tokio::test]
    async fn pipelines_are_stored_checked_and_reported() {
        let (_dir, service) = with_lobby().await;
        let (_, created) = service.post("/transmissions", &front_door()).await;
        let tx = created["id"].as_str().unwrap();
        let graph = json!({"graph": {"nodes": [
            {"id": "cam", "operator": "camera.source", "config": {"camera_id": "lobby", "source_id": "main"}},
            {"id": "detect", "operator": "vision.detect", "config": {"emit_mode": "filter"}},
            {"id": "out", "operator": "stream.publish_video", "config": {"transmission_id": tx}}],
            "edges": [{"from": {"node": "cam"}, "to": {"node": "detect"}},
                      {"from": {"node": "detect"}, "to": {"node": "out"}}]}});
        let (code, body) = send(
            &service,
            reqwest::Method::PUT,
            "/api/pipelines/people",
            Some(graph),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        let (_, runtime) = service.get("/runtime/pipelines").await;
        let people = runtime["pipelines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["pipeline_name"] == "people")
            .unwrap();
        assert_eq!(people["mode"], "not_runnable");
        assert_eq!(
            people["reason"],
            "operator 'vision.detect' does not run in this service"
        );
        assert_eq!(
            people["warnings"][0],
            "stream.publish_video is downstream of detection in filter mode."
        );
        assert_eq!(people["stream_behavior"], "event_gated");
        assert_eq!(people["event_gated"], true);
        assert_eq!(
            people["event_gate_reasons"],
            json!(["vision_detect_filter"])
        );
        // The original's link fields, read by its dashboard.
        assert_eq!(people["transmission_id"], tx);
        assert_eq!(people["publish_node_id"], "out");
        assert_eq!(people["source_node_id"], "cam");
        assert_eq!(people["camera_id"], "lobby");
        assert_eq!(people["camera_source_id"], "main");
        assert_eq!(people["source_id"], "people:cam:camera:lobby:source:main");
        assert_eq!(people["writer_id"], "people:out");
        assert_eq!(
            people["nodes"][1],
            json!({"node_id": "detect", "operator_id": "vision.detect",
                   "upstream_to_publish": true, "stream_publish": false})
        );
        assert_eq!(
            people["edges"][0],
            json!({"source_node_id": "cam", "source_port": null,
                   "target_node_id": "detect", "target_port": null})
        );

        let broken = json!({"graph": {"nodes": [{"id": "a", "operator": "camera.source"}],
                                      "edges": [{"from": {"node": "a"}, "to": {"node": "b"}}]}});
        let (code, body) = send(
            &service,
            reqwest::Method::PUT,
            "/api/pipelines/broken",
            Some(broken),
        )
        .await;
        assert_eq!(code, 422, "{body}");
        assert_eq!(first_loc(&body), "body.graph.edges.0.to.node");
        let (code, _) = send(
            &service,
            reqwest::Method::GET,
            "/api/pipelines/broken",
            None,
        )
        .await;
        assert_eq!(code, 404, "the refused pipeline was not stored");

        for (body, status) in [
            (
                json!({"transmission_id": "nope", "camera_id": "lobby", "preset_id": "simple_stream"}),
                404,
            ),
            (
                json!({"transmission_id": tx, "camera_id": "nope", "preset_id": "simple_stream"}),
                404,
            ),
            (
                json!({"transmission_id": tx, "camera_id": "lobby", "preset_id": "teleport"}),
                400,
            ),
            (
                json!({"transmission_id": tx, "camera_id": "lobby", "preset_id": "simple_stream",
                    "optional_parameters": {"fps_limit": 100}}),
                422,
            ),
            (
                json!({"transmission_id": tx, "camera_id": "lobby", "preset_id": "simple_stream",
                    "optional_parameters": {"pipeline_name": "people"}}),
                409,
            ),
        ] {
            let (code, answer) = service.post("/wizard/create-pipeline", &body).await;
            assert_eq!(code, status, "{body} -> {answer}");
            // The original's refusals are plain messages: "Pipeline already exists: people".
            if matches!(status, 400 | 404 | 409) {
                assert!(answer["detail"].is_string(), "{answer}");
            }
        }
        // Keys the original accepts (extra=allow) are not refused.
        let (code, answer) = service
            .post(
                "/wizard/create-pipeline",
                &json!({"transmission_id": tx, "camera_id": "lobby", "preset_id": "simple_stream",
                    "optional_parameters": {"demand_gate": true, "pipeline_name": "extras"}}),
            )
            .await;
        assert_eq!(code, 200, "{answer}");
        assert_eq!(answer["pipeline_name"], "extras");
        let (code, answer) = service
            .post(
                "/wizard/create-pipeline",
                &json!({"transmission_id": tx, "camera_id": "lobby",
                                                      "preset_id": "motion_gate_stream"}),
            )
            .await;
        assert_eq!(code, 200, "{answer}");
        assert_eq!(answer["pipeline_name"], "front-door__lobby__main__motion");
        assert_eq!(answer["camera_source_id"], "main", "the default source");
    }
}

/// JSMpeg over the signed WebSocket, with real FFmpeg: what a browser player would receive.
mod jsmpeg {
    use super::*;
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    async fn transmission_with_red_writer(service: &Service) -> (String, String) {
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"name": "Lab", "path": "lab", "outputs": [
                {"id": "hls", "protocol": "hls", "resolution": {"width": 320, "height": 240}}]}),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        service
            .send_solid_frame(&id, "cam", (320, 240), [0, 0, 255])
            .await;
        let url = service.ws_url(&service.media_path(&id, "jsmpeg").await);
        (id, url)
    }

    type Socket = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    async fn connect(url: &str) -> Socket {
        tokio_tungstenite::connect_async(url)
            .await
            .expect("the socket upgrades")
            .0
    }

    /// Reads binary messages until `bytes` have arrived.
    async fn mpeg_ts(socket: &mut Socket, bytes: usize) -> Vec<u8> {
        let mut stream = Vec::new();
        while stream.len() < bytes {
            match socket.next().await {
                Some(Ok(Message::Binary(chunk))) => stream.extend_from_slice(&chunk),
                // The service checks that viewers still read.
                Some(Ok(Message::Ping(_))) => {}
                other => panic!("expected MPEG-TS, got {other:?}"),
            }
        }
        stream
    }

    /// The close code and reason the service ends the socket with.
    async fn refusal(url: &str) -> (CloseCode, String) {
        let mut socket = connect(url).await;
        match socket.next().await {
            Some(Ok(Message::Close(Some(frame)))) => (frame.code, frame.reason.to_string()),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    async fn session_pids(service: &Service) -> Vec<u32> {
        let (_, tree) = service.get("/runtime/actors").await;
        let jsmpeg = tree["children"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == "jsmpeg_supervisor")
            .unwrap()
            .clone();
        jsmpeg["children"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["pid"].as_u64())
            .map(|p| p as u32)
            .collect()
    }

    #[tokio::test]
    async fn a_viewer_gets_mpeg1_of_the_writers_frames_at_the_session_size() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, url) = transmission_with_red_writer(&service).await;
        let mut socket = connect(&url).await;
        let stream = mpeg_ts(&mut socket, 64 * 1024).await;
        let file = dir.path().join("received.ts");
        std::fs::write(&file, &stream).unwrap();
        let probe = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=codec_name,width,height",
                "-of",
                "csv=p=0",
            ])
            .arg(&file)
            .output()
            .unwrap();
        // (MPEG-TS lists the stream once per program and once on its own.)
        let described = String::from_utf8_lossy(&probe.stdout);
        assert_eq!(
            described.lines().next(),
            Some("mpeg1video,320,240"),
            "{described}"
        );
        let frame = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&file)
            .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .unwrap()
            .stdout;
        let at = (120 * 320 + 160) * 3;
        let centre = [frame[at], frame[at + 1], frame[at + 2]];
        assert!(
            centre[0] > 200 && centre[1] < 60 && centre[2] < 60,
            "centre is {centre:?}, not red"
        );
        let (_, status) = service.get("/jsmpeg/status").await;
        assert_eq!(status["running_session_count"], 1, "{status}");
        assert_eq!(status["ffmpeg_source"], "system");
        assert_eq!(status["ffmpeg_error"], Value::Null);
        assert!(status["frames_encoded"].as_u64().is_some(), "{status}");

        // The viewer leaves: its FFmpeg goes too.
        let pids = session_pids(&service).await;
        assert_eq!(pids.len(), 1);
        socket.close(None).await.unwrap();
        eventually(std::time::Duration::from_secs(10), || async {
            (!support::is_alive(pids[0])).then_some(())
        })
        .await;
        eventually(std::time::Duration::from_secs(10), || async {
            let (_, status) = service.get("/jsmpeg/status").await;
            (status["running_session_count"] == 0).then_some(())
        })
        .await;
    }

    /// The centre pixel (RGB) of the last frame in `seconds` of a viewer's stream.
    async fn last_centre(socket: &mut Socket, dir: &std::path::Path, seconds: f64) -> [u8; 3] {
        let until = std::time::Instant::now() + std::time::Duration::from_secs_f64(seconds);
        let mut stream = Vec::new();
        while std::time::Instant::now() < until || stream.len() < 32 * 1024 {
            stream.extend(mpeg_ts(socket, 1).await);
        }
        let file = dir.join("recent.ts");
        std::fs::write(&file, &stream).unwrap();
        let frames = std::process::Command::new("ffmpeg")
            .args(["-v", "quiet", "-i"])
            .arg(&file)
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .unwrap()
            .stdout;
        let frame_len = 320 * 240 * 3;
        assert!(frames.len() >= frame_len, "no whole frame decoded");
        let last = &frames[(frames.len() / frame_len - 1) * frame_len..];
        let at = (120 * 320 + 160) * 3;
        [last[at], last[at + 1], last[at + 2]]
    }

    /// A viewer keeps watching while its transmission stops and starts again: it sees the new
    /// transmission's frames, not the old actor's last frame forever.
    #[tokio::test]
    async fn a_viewer_follows_its_transmission_through_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (id, url) = transmission_with_red_writer(&service).await;
        let mut socket = connect(&url).await;
        let red = last_centre(&mut socket, dir.path(), 1.0).await;
        assert!(red[0] > 200 && red[1] < 60, "red first: {red:?}");

        let (_, all) = service.get("/transmissions").await;
        let mut stored = all.as_array().unwrap()[0].clone();
        for enabled in [false, true] {
            stored["enabled"] = json!(enabled);
            let (code, body) = service.put(&format!("/transmissions/{id}"), &stored).await;
            assert_eq!(code, 200, "{body}");
        }
        service
            .send_solid_frame(&id, "cam", (320, 240), [0, 255, 0])
            .await;
        let start = std::time::Instant::now();
        loop {
            let centre = last_centre(&mut socket, dir.path(), 1.0).await;
            if centre[1] > 200 && centre[0] < 60 {
                break;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(15),
                "still {centre:?}: the viewer kept the old transmission"
            );
        }
    }

    #[tokio::test]
    async fn with_no_writer_the_viewer_sees_the_placeholder_colour() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"name": "Dark", "path": "dark", "placeholder": "black", "outputs": [
                    {"id": "hls", "protocol": "hls", "resolution": {"width": 320, "height": 240}}]}),
            )
            .await;
        let id = created["id"].as_str().unwrap();
        let path = service.media_path(id, "jsmpeg").await;
        let mut socket = connect(&service.ws_url(&path)).await;
        let file = dir.path().join("dark.ts");
        std::fs::write(&file, mpeg_ts(&mut socket, 32 * 1024).await).unwrap();
        let frame = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&file)
            .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .unwrap()
            .stdout;
        assert_eq!(frame.len(), 320 * 240 * 3);
        assert!(frame.iter().all(|v| *v < 24), "the black placeholder");
    }

    #[tokio::test]
    async fn the_third_viewer_of_a_transmission_and_bad_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, url) = transmission_with_red_writer(&service).await;
        let mut first = connect(&url).await;
        let mut second = connect(&url).await;
        mpeg_ts(&mut first, 1).await;
        mpeg_ts(&mut second, 1).await;
        let (code, reason) = refusal(&url).await;
        assert_eq!(u16::from(code), 1013);
        assert_eq!(
            reason,
            "JSMpeg session limit for this transmission is reached."
        );

        let forged = format!("{}x", url);
        let (code, reason) = refusal(&forged).await;
        assert_eq!(
            (u16::from(code), reason.as_str()),
            (1008, "media_token_invalid")
        );
        let wrong_path = url.replace("/jsmpeg/lab/", "/jsmpeg/other/");
        let (code, _) = refusal(&wrong_path).await;
        assert_eq!(u16::from(code), 1008);
        assert_eq!(
            session_pids(&service).await.len(),
            2,
            "refusals started nothing"
        );
    }
}

/// The README demo: `serve --demo` then `watch` shows the demo camera with no engine and no camera.
mod demo {
    use super::*;
    use std::io::Read;

    #[tokio::test]
    async fn the_demo_camera_is_watchable_without_an_engine() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start_demo(dir.path());
        assert_eq!(
            service.transmission_ids().await,
            ["tx-camera-demo-main-main", "tx-camera-demo-sub-sub"]
        );
        let api = service.root.clone();
        let mut watcher = std::process::Command::new(support::BIN)
            .args([
                "watch",
                "--api",
                &api,
                "tx-camera-demo-sub-sub",
                "--data-dir",
            ])
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stream = vec![0u8; 128 * 1024];
        let mut stdout = watcher.stdout.take().unwrap();
        tokio::task::spawn_blocking(move || stdout.read_exact(&mut stream).map(|_| stream))
            .await
            .unwrap()
            .map(|stream| std::fs::write(dir.path().join("demo.ts"), stream).unwrap())
            .expect("watch streams the demo");
        let _ = watcher.kill();
        let _ = watcher.wait();
        let probe = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name,width,height",
                "-of",
                "csv=p=0",
            ])
            .arg(dir.path().join("demo.ts"))
            .output()
            .unwrap();
        let described = String::from_utf8_lossy(&probe.stdout);
        assert_eq!(
            described.lines().next(),
            Some("mpeg1video,640,360"),
            "{described}"
        );
        // Restarting with --demo again changes nothing (registered once).
        drop(service);
        let service = Service::start_demo(dir.path());
        let (_, cameras) = service.get("/transmissions").await;
        assert_eq!(cameras.as_array().unwrap().len(), 2);
    }
}

mod stills {
    use super::*;
    use toposync_actors::transmissions::arbitration::Frame;

    pub(super) async fn still(
        service: &Service,
        id: &str,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let response = service
            .http
            .get(service.url(&format!("/transmissions/{id}/still.jpg")))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.bytes().await.unwrap().to_vec())
    }

    #[tokio::test]
    async fn the_placeholder_then_the_writers_frame_at_its_own_size() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"name": "Lab", "path": "lab", "outputs": [
                {"id": "hls", "protocol": "hls", "resolution": {"width": 320, "height": 240}}]}),
            )
            .await;
        let id = created["id"].as_str().unwrap();
        let (status, headers, body) = still(&service, id).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "image/jpeg");
        assert_eq!(headers["x-toposync-frame-state"], "placeholder");
        let placeholder = Frame::from_jpeg(&body).unwrap();
        assert_eq!(
            (placeholder.width, placeholder.height),
            (320, 240),
            "the output's size"
        );
        assert!(placeholder.data.iter().all(|v| v.abs_diff(127) < 4), "gray");

        service
            .send_solid_frame(id, "cam", (160, 120), [0, 0, 255])
            .await;
        let (_, headers, body) = still(&service, id).await;
        assert_eq!(headers["x-toposync-frame-state"], "live");
        assert!(headers.contains_key("x-toposync-selected-frame-age-seconds"));
        let live = Frame::from_jpeg(&body).unwrap();
        assert_eq!(
            (live.width, live.height),
            (160, 120),
            "the selected frame's size"
        );
        assert!(live.data[2] > 200 && live.data[0] < 60, "red (BGR)");
        assert_eq!(headers["cache-control"], "no-store, max-age=0");
        assert_eq!(headers["pragma"], "no-cache");
        let (status, _, _) = still(&service, "nope").await;
        assert_eq!(status, 404);

        // Disabled: no frame path, so the placeholder (the original never refuses a still).
        let (_, disabled) = service
            .post(
                "/transmissions",
                &json!({"name": "Off", "path": "off", "enabled": false, "placeholder": "black",
                    "outputs": [{"id": "hls", "protocol": "hls",
                                 "resolution": {"width": 64, "height": 48}}]}),
            )
            .await;
        let (status, headers, body) = still(&service, disabled["id"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(headers["x-toposync-frame-state"], "placeholder");
        let black = Frame::from_jpeg(&body).unwrap();
        assert_eq!((black.width, black.height), (64, 48));
        assert!(black.data.iter().all(|v| *v < 8), "black");
    }
}

mod playback_plan {
    use super::*;

    /// Registers a camera (which publishes its sources and generates their transmissions).
    async fn add_camera(service: &Service, camera: Value) {
        let root = service.root.clone();
        let response = service
            .http
            .post(format!("{root}/api/cameras"))
            .json(&camera)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    #[tokio::test]
    async fn a_generated_camera_transmission_plans_hls_with_reasons_for_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let camera = json!({"id": "front", "name": "Front", "sources": [
            {"id": "zoom", "role": "zoom", "origin": {"rtsp_url": "rtsp://10.0.0.5/zoom"}}]});
        add_camera(&service, camera).await;
        let id = "tx-camera-front-zoom-zoom";
        let (code, plan) = service
            .get(&format!(
                "/transmissions/{id}/playback-plan?client=web&context=fullscreen"
            ))
            .await;
        assert_eq!(code, 200, "{plan}");
        let order: Vec<(&str, bool)> = plan["transports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["transport"].as_str().unwrap(), t["available"] == true))
            .collect();
        // A zoom source makes WebRTC contextual on the web; no engine and no go2rtc here.
        assert_eq!(
            order,
            [
                ("webrtc", true),
                ("mse", false),
                ("hls", true),
                ("jsmpeg", true)
            ]
        );
        assert_eq!(plan["selected_transport"], "webrtc");
        let mse = &plan["transports"][1];
        assert_eq!(
            mse["blocking_errors"],
            json!([
                "MediaMTX engine is not running; MSE needs the internal RTSP output.",
                "go2rtc binary is unavailable: not installed (POST /api/streams/mse/download, or set TOPOSYNC_STREAMING_GO2RTC_PATH)"
            ])
        );
        assert_eq!(plan["transports"][2]["output_id"], "hls_stable_apple_tv");
        // An entry without an output says "none", as the original's model default.
        assert_eq!(mse["media_auth_type"], "none");
        let health = &plan["transports"][2]["health"];
        for key in [
            "status",
            "selected_frame_age_seconds",
            "last_incoming_frame_age_seconds",
            "fallback_active",
            "fallback_reason",
            "stale",
            "placeholder_active",
            "transport_health",
            "viewer_count",
            "publisher_running",
            "publisher_frames_sent",
            "publisher_last_error",
        ] {
            assert!(health.get(key).is_some(), "{key} missing in {health}");
        }
        assert_eq!(plan["transports"][3]["output_id"], "hls_diagnostic_low");
        assert_eq!(plan["lease_seconds"], 45.0);

        let (_, app) = service
            .get(&format!("/transmissions/{id}/playback-plan?client=app"))
            .await;
        assert_eq!(app["selected_transport"], "hls", "{app}");
        let (code, body) = service
            .get(&format!("/transmissions/{id}/playback-plan?client=tv"))
            .await;
        assert_eq!(code, 422);
        assert_eq!(first_loc(&body), "query.client");
        let (code, body) = service
            .get(&format!("/transmissions/{id}/playback-plan?context=wall"))
            .await;
        assert_eq!(code, 422);
        assert_eq!(first_loc(&body), "query.context");
        let (code, _) = service.get("/transmissions/nope/playback-plan").await;
        assert_eq!(code, 404);
    }

    #[tokio::test]
    async fn a_live_view_plays_the_variant_its_context_prefers() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let camera = json!({"id": "front", "name": "Front", "sources": [
            {"id": "main", "role": "main", "origin": {"rtsp_url": "rtsp://10.0.0.5/main"}},
            {"id": "sub", "role": "sub", "origin": {"rtsp_url": "rtsp://10.0.0.5/sub"}}]});
        add_camera(&service, camera).await;
        let (code, thumbnail) = service
            .get("/live-views/live-front-front/playback?context=thumbnail")
            .await;
        assert_eq!(code, 200, "{thumbnail}");
        assert_eq!(thumbnail["variant"]["id"], "sub");
        // Views play the camera's own stream by default (docs/api.md, "Native profile").
        assert_eq!(thumbnail["selected_output"]["output_id"], "hls_native");
        assert_eq!(thumbnail["playback_plan"]["selected_transport"], "hls");
        // The original's clients read these.
        let tx = thumbnail["transmission"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(thumbnail["transmission_id"], tx.as_str());
        assert_eq!(thumbnail["live_view"]["id"], "live-front-front");
        assert_eq!(thumbnail["camera_id"], "front");
        assert_eq!(thumbnail["camera_name"], "Front");
        assert_eq!(thumbnail["camera_source_id"], "sub");
        assert_eq!(thumbnail["source_role"], "sub");
        // The URL resolution's warnings reach the top level; the runtime health is embedded.
        assert!(
            thumbnail["warnings"].as_array().unwrap().contains(&json!(
                "Engine is not running. URLs are based on preferred ports."
            )),
            "{thumbnail}"
        );
        assert_eq!(thumbnail["runtime_health"]["transmission_id"], tx.as_str());
        // Only the variant's output is demanded: one encoder, not one per output.
        let (_, demand) = service.get(&format!("/transmissions/{tx}/demand")).await;
        let primed: Vec<&str> = demand["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["primed"] == true)
            .map(|o| o["output_id"].as_str().unwrap())
            .collect();
        assert_eq!(primed, vec!["hls_native"], "{demand}");
        let (_, fullscreen) = service
            .get("/camera-live-views/live-front-front/playback?context=fullscreen")
            .await;
        assert_eq!(fullscreen["variant"]["id"], "main");
        assert_eq!(fullscreen["selected_output"]["output_id"], "hls_native");
        assert!(
            fullscreen["selected_output"]["url"]
                .as_str()
                .unwrap()
                .starts_with("/api/streams/media/hls/")
        );
        let (_, chosen) = service
            .get("/live-views/live-front-front/playback?context=fullscreen&variant_id=sub")
            .await;
        assert_eq!(chosen["variant"]["id"], "sub");
        let (code, body) = service.get("/live-views/nope/playback").await;
        assert_eq!(
            (code, body),
            (404, json!({"detail": "Camera live view not found"}))
        );
        let (code, body) = service
            .get("/live-views/live-front-front/playback?context=wall")
            .await;
        assert_eq!(code, 422);
        assert_eq!(first_loc(&body), "query.context");
    }

    /// Live views edited as the original's settings page edits them: replaced whole, checked
    /// against what they reference, deleted with what was generated for them alone.
    #[tokio::test]
    async fn live_views_are_replaced_checked_generated_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let camera = json!({"id": "yard", "name": "Yard", "sources": [
            {"id": "main", "role": "main", "origin": {"rtsp_url": "rtsp://10.0.0.6/main"}}]});
        add_camera(&service, camera).await;
        let (code, generated) = service
            .post("/camera-live-views/generate", &json!({"camera_id": "yard"}))
            .await;
        assert_eq!(code, 200, "{generated}");
        assert_eq!(generated["generated_count"], 1);
        let view = generated["camera_live_views"][0].clone();
        let view_id = view["id"].as_str().unwrap().to_string();
        let tx = generated["transmissions"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (code, missing) = service
            .post("/camera-live-views/generate", &json!({"camera_id": "nope"}))
            .await;
        assert_eq!(
            (code, missing),
            (404, json!({"detail": "Camera not found"}))
        );

        // Replace: nine variant roles survive, defaults default to the context names.
        let replacement = json!({"owner_kind": "camera_source", "camera_id": "yard",
            "variants": [
                {"id": "thumbnail", "role": "thumbnail", "transmission_id": tx},
                {"id": "pip", "role": "pip", "transmission_id": tx},
                {"id": "large", "role": "large", "transmission_id": tx},
                {"id": "fullscreen", "role": "ptz", "transmission_id": tx,
                 "preferred_transport": "carrier-pigeon"}]});
        let (code, replaced) = service
            .put(&format!("/live-views/{view_id}"), &replacement)
            .await;
        assert_eq!(code, 200, "{replaced}");
        assert_eq!(replaced["id"], view_id.as_str());
        assert_eq!(replaced["name"], "yard");
        assert_eq!(replaced["defaults"]["thumbnail_variant_id"], "thumbnail");
        assert_eq!(replaced["defaults"]["ptz_variant_id"], Value::Null);
        assert_eq!(replaced["variants"][0]["label"], "thumbnail");
        assert_eq!(replaced["variants"][3]["role"], "ptz");
        assert_eq!(replaced["variants"][3]["preferred_transport"], "auto");
        let (_, views) = service.get("/live-views").await;
        assert_eq!(views[0]["variants"][3]["role"], "ptz", "{views}");

        // Refused, and nothing changes: references (409 plain) and shape (422 naming the field).
        let one = json!({"thumbnail_variant_id": "thumbnail", "pip_variant_id": "thumbnail",
                         "large_variant_id": "thumbnail", "fullscreen_variant_id": "thumbnail"});
        for (body, code, detail) in [
            (
                json!({"camera_id": "yard", "variants": [
                    {"id": "thumbnail", "transmission_id": "ghost"}], "defaults": one}),
                409,
                json!("Transmission not found for live variant 'thumbnail': ghost"),
            ),
            (
                json!({"camera_id": "yard", "variants": [
                    {"id": "thumbnail", "transmission_id": tx, "output_id": "ghost"}], "defaults": one}),
                409,
                json!(format!(
                    "Output not found for live variant 'thumbnail': ghost"
                )),
            ),
            (
                json!({"camera_id": "yard", "variants": [
                    {"id": "thumbnail", "transmission_id": tx, "camera_source_id": "ghost"}], "defaults": one}),
                409,
                json!("Camera source not found or disabled: ghost"),
            ),
        ] {
            let (status, answer) = service.put(&format!("/live-views/{view_id}"), &body).await;
            assert_eq!((status, &answer["detail"]), (code, &detail), "{body}");
        }
        let (status, answer) = service
            .put(
                &format!("/live-views/{view_id}"),
                &json!({"camera_id": "yard", "variants": [{"id": "solo", "transmission_id": tx}]}),
            )
            .await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(first_loc(&answer), "body.defaults.thumbnail_variant_id");
        let (_, views) = service.get("/live-views").await;
        assert_eq!(
            views[0]["variants"].as_array().unwrap().len(),
            4,
            "unchanged"
        );
        // A manual view without a camera is the original's third owner kind.
        let (status, answer) = service
            .put(
                &format!("/camera-live-views/{view_id}"),
                &json!({"owner_kind": "manual", "name": "Wall"}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["owner_kind"], "manual");
        let (status, answer) = service.put("/live-views/nope", &json!({})).await;
        assert_eq!(
            (status, answer),
            (404, json!({"detail": "Camera live view not found"}))
        );

        let (status, answer) = service.delete(&format!("/live-views/{view_id}")).await;
        assert_eq!((status, answer), (200, json!({"ok": true})));
        let (_, views) = service.get("/live-views").await;
        assert_eq!(views, json!([]));
        let (status, _) = service.delete(&format!("/live-views/{view_id}")).await;
        assert_eq!(status, 404);
    }
}

/// Issue 13's attacks, each reproduced against the real binary and shown refused.
mod security {
    use super::*;
    use futures_util::StreamExt;
    use reqwest::StatusCode;
    use tokio_tungstenite::tungstenite::Message;

    /// In a Home Assistant add-on, the ingress proxy's requests are trusted as admin (Home
    /// Assistant signed the user in) and every URL carries the ingress path; the same header from
    /// anywhere else is refused, whatever credential comes with it.
    #[tokio::test]
    async fn home_assistant_ingress_is_trusted_only_from_its_proxy() {
        const PREFIX: &str = "/api/hassio_ingress/tok";
        use std::path::Path;
        let addon = (
            "TOPOSYNC_DEPLOYMENT_TARGET",
            Path::new("home_assistant_addon"),
        );
        let dir = tempfile::tempdir().unwrap();
        // The Supervisor's proxy (172.30.32.2) is not this test.
        let service = Service::start_with(dir.path(), &[addon]);
        for client in [&service.anonymous, &service.http] {
            let response = client
                .get(service.url("/transmissions"))
                .header("x-ingress-path", PREFIX)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
            let body: Value = response.json().await.unwrap();
            assert_eq!(
                body["detail"],
                "Ingress access is restricted to Home Assistant"
            );
        }
        let without = service
            .anonymous
            .get(service.url("/transmissions"))
            .send()
            .await
            .unwrap();
        assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
        drop(service);

        // Here the proxy is this test (TOPOSYNC_INGRESS_PROXY).
        let dir = tempfile::tempdir().unwrap();
        let proxy = ("TOPOSYNC_INGRESS_PROXY", Path::new("127.0.0.1"));
        let service = Service::start_with(dir.path(), &[addon, proxy]);
        let ingress = |method: reqwest::Method, path: &str| {
            service
                .anonymous
                .request(method, service.url(path))
                .header("x-ingress-path", PREFIX)
        };
        let session: Value = ingress(reqwest::Method::GET, "/auth/session")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(session["role"], "admin", "{session}");
        assert_eq!(session["method"], "ingress", "{session}");
        let created = ingress(reqwest::Method::POST, "/transmissions")
            .json(&json!({"name": "Door", "path": "door", "outputs": [{"id": "h", "protocol": "hls"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::OK, "an admin write");
        let id = created.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        for path in [
            format!("/transmissions/{id}/urls"),
            format!("/transmissions/{id}/playback-plan?client=web"),
        ] {
            let answer: Value = ingress(reqwest::Method::GET, &path)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if path.ends_with("/urls") {
                assert_eq!(answer["public_base_path"], PREFIX, "{answer}");
            }
            let text = answer.to_string();
            let proxied: Vec<&str> = text
                .split('"')
                .filter(|s| s.contains("/api/streams/media/"))
                .collect();
            assert!(!proxied.is_empty(), "{path}: {answer}");
            assert!(
                proxied.iter().all(|url| url.starts_with(PREFIX)),
                "{path}: {proxied:?}"
            );
        }
        let without = service
            .anonymous
            .get(service.url("/transmissions"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            without.status(),
            StatusCode::UNAUTHORIZED,
            "without the header, the usual sign-in"
        );
    }

    /// Every WRITE / WIZARD route of the original's table (and the registry and writer routes).
    fn write_routes() -> Vec<(reqwest::Method, &'static str, Option<Value>)> {
        use reqwest::Method;
        let body = |v: Value| Some(v);
        vec![
            (
                Method::PATCH,
                "/api/streams/settings",
                body(json!({"engine": {"expose_to_lan": true}})),
            ),
            (
                Method::PUT,
                "/api/streams/publications/camera-sources/c/s",
                body(json!({"enabled": true})),
            ),
            (Method::POST, "/api/streams/reconcile", None),
            (
                Method::POST,
                "/api/streams/settings/recovery/acknowledge",
                None,
            ),
            (Method::POST, "/api/streams/engine/download", None),
            (Method::POST, "/api/streams/engine/start", None),
            (Method::POST, "/api/streams/engine/stop", None),
            (Method::POST, "/api/streams/engine/restart", None),
            (Method::POST, "/api/streams/mse/download", None),
            (Method::POST, "/api/streams/mse/start", None),
            (Method::POST, "/api/streams/mse/stop", None),
            (Method::POST, "/api/streams/mse/restart", None),
            (
                Method::POST,
                "/api/streams/camera-live-views/generate",
                None,
            ),
            (
                Method::PUT,
                "/api/streams/live-views/v",
                body(json!({"variants": []})),
            ),
            (Method::DELETE, "/api/streams/live-views/v", None),
            (
                Method::POST,
                "/api/streams/transmissions",
                body(front_door()),
            ),
            (
                Method::POST,
                "/api/streams/transmissions/front-door/quality-profiles/apply",
                None,
            ),
            (
                Method::POST,
                "/api/streams/transmissions/front-door/webrtc/companion/apply",
                None,
            ),
            (
                Method::PUT,
                "/api/streams/transmissions/front-door",
                body(front_door()),
            ),
            (
                Method::DELETE,
                "/api/streams/transmissions/front-door",
                None,
            ),
            (
                Method::POST,
                "/api/streams/wizard/create-pipeline",
                body(json!({})),
            ),
            (
                Method::POST,
                "/api/streams/runtime/encoders/quarantine/clear",
                None,
            ),
            (
                Method::POST,
                "/api/streams/transmissions/front-door/writers/w/frame?width=2&height=2",
                None,
            ),
            (
                Method::POST,
                "/api/streams/transmissions/front-door/writers/w/close",
                None,
            ),
            (
                Method::POST,
                "/api/cameras",
                body(json!({"id": "c", "sources": []})),
            ),
            (
                Method::PUT,
                "/api/cameras/c",
                body(json!({"id": "c", "sources": []})),
            ),
            (Method::DELETE, "/api/cameras/c", None),
            (Method::PUT, "/api/pipelines/p", body(json!({"graph": {}}))),
            (Method::DELETE, "/api/pipelines/p", None),
        ]
    }

    async fn send(
        client: &reqwest::Client,
        service: &Service,
        method: &reqwest::Method,
        path: &str,
        body: &Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = client.request(method.clone(), format!("{}{path}", service.root));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn every_write_route_needs_the_admin() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"id": "front-door", "name": "Front", "path": "front-door"}),
            )
            .await;
        assert_eq!(created["id"], "front-door");
        let before = full_settings(&service).await;
        let viewer = support::client_with(&service.viewer_token);
        for (method, path, body) in write_routes() {
            let (status, answer) = send(&service.anonymous, &service, &method, path, &body).await;
            assert_eq!(status, 401, "anonymous {method} {path}: {answer}");
            assert_eq!(answer, json!({"detail": "Authentication required"}));
            let (status, answer) = send(&viewer, &service, &method, path, &body).await;
            assert_eq!(status, 403, "viewer {method} {path}: {answer}");
            assert_eq!(answer, json!({"detail": "Permission denied"}));
        }
        let after = full_settings(&service).await;
        assert_eq!(after, before, "refused requests changed nothing");
        // With the admin token, as before.
        let (status, _) = send(
            &service.http,
            &service,
            &reqwest::Method::POST,
            "/api/streams/reconcile",
            &None,
        )
        .await;
        assert_eq!(status, 200);
        // Secrets and the manifest that embeds them are the admin's.
        for path in [
            "/api/streams/settings?include_secrets=true",
            "/api/streams/home-assistant/cameras",
        ] {
            let get = reqwest::Method::GET;
            assert_eq!(
                send(&viewer, &service, &get, path, &None).await.0,
                403,
                "{path}"
            );
            assert_eq!(
                send(&service.http, &service, &get, path, &None).await.0,
                200,
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn reads_need_a_viewer_and_watchdogs_need_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let url = service.url("/transmissions");
        let status = |response: reqwest::Response| response.status();
        assert_eq!(
            status(service.anonymous.get(&url).send().await.unwrap()),
            401
        );
        let viewer = support::client_with(&service.viewer_token);
        assert_eq!(status(viewer.get(&url).send().await.unwrap()), 200);
        let basic = service
            .anonymous
            .get(&url)
            .basic_auth("viewer", Some(&service.viewer_token))
            .send()
            .await
            .unwrap();
        assert_eq!(basic.status(), 200);
        let wrong_user = service
            .anonymous
            .get(&url)
            .basic_auth("admin", Some(&service.viewer_token))
            .send()
            .await
            .unwrap();
        assert_eq!(
            wrong_user.status(),
            401,
            "the name must match the token's role"
        );
        let forged = support::client_with("not-a-token");
        let answer = forged.get(&url).send().await.unwrap();
        assert_eq!(answer.status(), 401);
        assert_eq!(
            answer.json::<Value>().await.unwrap(),
            json!({"detail": "Invalid credentials"})
        );
        let health = service
            .anonymous
            .get(service.url("/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
    }

    #[tokio::test]
    async fn media_routes_work_with_their_token_alone() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"name": "Lab", "path": "lab", "outputs": [
                {"id": "hls", "protocol": "hls", "resolution": {"width": 320, "height": 240}}]}),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        service
            .send_solid_frame(&id, "cam", (320, 240), [0, 0, 255])
            .await;
        // A player given the signed URL needs nothing else.
        let jsmpeg = service.ws_url(&service.media_path(&id, "jsmpeg").await);
        let (mut socket, _) = tokio_tungstenite::connect_async(&jsmpeg).await.unwrap();
        let first = tokio::time::timeout(std::time::Duration::from_secs(20), socket.next())
            .await
            .expect("video arrives")
            .unwrap()
            .unwrap();
        assert!(matches!(first, Message::Binary(_)), "{first:?}");
        let hls = service.media_path(&id, "hls").await;
        let signed = service
            .anonymous
            .get(format!("{}{hls}", service.root))
            .send()
            .await
            .unwrap();
        assert!(
            ![401, 403].contains(&signed.status().as_u16()),
            "the token is the credential: {}",
            signed.status()
        );
        let unsigned = hls.split('?').next().unwrap();
        let refused = service
            .anonymous
            .get(format!("{}{unsigned}", service.root))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
    }

    #[tokio::test]
    async fn rebinding_cross_site_and_simple_posts_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let url = service.url("/transmissions");
        // DNS rebinding: a page on evil.example whose name now points here.
        let rebound = service
            .http
            .get(&url)
            .header("host", "evil.example:8100")
            .send()
            .await
            .unwrap();
        assert_eq!(rebound.status(), 403);
        // A cross-site page posting, even when the browser holds credentials.
        let post_with = |header: &'static str, value: &'static str| {
            service
                .http
                .post(&url)
                .header(header, value)
                .json(&front_door())
                .send()
        };
        let cross = post_with("origin", "http://evil.example").await.unwrap();
        assert_eq!(cross.status(), 403);
        let fetched = post_with("sec-fetch-site", "cross-site").await.unwrap();
        assert_eq!(fetched.status(), 403);
        // A "simple" POST (no preflight) carries text/plain: not JSON here.
        let simple = service
            .http
            .post(&url)
            .header("content-type", "text/plain")
            .body(front_door().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(simple.status(), 415);
        let (_, list) = service.get("/transmissions").await;
        assert_eq!(list, json!([]), "nothing was created");
        // Same origin is fine.
        let same = service
            .http
            .post(&url)
            .header("origin", service.root.as_str())
            .json(&front_door())
            .send()
            .await
            .unwrap();
        assert_eq!(same.status(), 200);
    }

    #[tokio::test]
    async fn failed_logins_lock_the_address_out() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let url = service.url("/transmissions");
        let guessing = support::client_with("guess");
        for _ in 0..5 {
            assert_eq!(guessing.get(&url).send().await.unwrap().status(), 401);
        }
        let locked = guessing.get(&url).send().await.unwrap();
        assert_eq!(locked.status(), 429);
        assert!(locked.headers().contains_key("retry-after"));
        // Even the right token waits: the address is locked, not the guess.
        assert_eq!(service.http.get(&url).send().await.unwrap().status(), 429);
        let login = service
            .anonymous
            .post(service.url("/auth/login"))
            .json(&json!({"password": service.admin_token}))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 429);
    }

    #[tokio::test]
    async fn browser_sessions_need_their_csrf_token() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let page = service
            .anonymous
            .get(format!("{}/login", service.root))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(
            page.text()
                .await
                .unwrap()
                .contains("fetch('api/streams/auth/login'")
        );
        let login = |password: String| {
            service
                .anonymous
                .post(service.url("/auth/login"))
                .json(&json!({"username": "admin", "password": password}))
                .send()
        };
        assert_eq!(login("wrong".into()).await.unwrap().status(), 401);
        let answer = login(service.admin_token.clone()).await.unwrap();
        assert_eq!(answer.status(), 200);
        let cookie = answer
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let session = cookie.split(';').next().unwrap().to_string();
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["role"], "admin");
        let csrf = body["csrf_token"].as_str().unwrap().to_string();
        let with_cookie = |request: reqwest::RequestBuilder| request.header("cookie", &session);
        let read = with_cookie(service.anonymous.get(service.url("/transmissions")))
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 200);
        let forged = with_cookie(service.anonymous.post(service.url("/transmissions")))
            .json(&front_door())
            .send()
            .await
            .unwrap();
        assert_eq!(
            forged.status(),
            403,
            "a cookie alone does not change anything"
        );
        let made = with_cookie(service.anonymous.post(service.url("/transmissions")))
            .header("x-csrf-token", &csrf)
            .json(&front_door())
            .send()
            .await
            .unwrap();
        assert_eq!(made.status(), 200);
        let who: Value = with_cookie(service.anonymous.get(service.url("/auth/session")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(who["role"], "admin");
        assert_eq!(who["method"], "session");
        assert_eq!(who["csrf_token"], csrf.as_str());
    }

    #[tokio::test]
    async fn a_rotated_token_replaces_the_old_one_in_the_running_service() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let output = std::process::Command::new(support::BIN)
            .args(["auth", "rotate", "--role", "viewer", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let token = String::from_utf8(output.stdout).unwrap().trim().to_string();
        assert!(token.len() >= 40, "{token}");
        let url = service.url("/transmissions");
        let fresh = support::client_with(&token);
        eventually(std::time::Duration::from_secs(10), || {
            let request = fresh.get(&url).send();
            async move { (request.await.ok()?.status() == 200).then_some(()) }
        })
        .await;
        let old = support::client_with(&service.viewer_token);
        assert_eq!(old.get(&url).send().await.unwrap().status(), 401);
    }

    #[tokio::test]
    async fn files_with_secrets_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // As a user's home-made directory might be; the service closes it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let service = Service::start(dir.path());
        service.post("/transmissions", &front_door()).await;
        let mode = |path: std::path::PathBuf| {
            std::fs::metadata(&path)
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
                .permissions()
                .mode()
                & 0o777
        };
        let runtime = dir.path().join("runtime").join("streaming");
        for file in [
            dir.path().join("auth").join("credentials.json"),
            dir.path().join("streaming-settings.json"),
            runtime.join("media-token-secret"),
            runtime.join("publish-secret.key"),
        ] {
            assert_eq!(mode(file.clone()), 0o600, "{}", file.display());
        }
        for directory in [dir.path().to_path_buf(), dir.path().join("auth"), runtime] {
            assert_eq!(mode(directory.clone()), 0o700, "{}", directory.display());
        }
        let credentials =
            std::fs::read_to_string(dir.path().join("auth").join("credentials.json")).unwrap();
        assert!(
            !credentials.contains(&service.admin_token),
            "only digests are kept"
        );
    }

    #[tokio::test]
    async fn versions_are_versions_not_paths() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let before = full_settings(&service).await;
        for (patch, loc) in [
            (
                json!({"engine": {"mediamtx_version": "/tmp/evil"}}),
                "body.engine.mediamtx_version",
            ),
            (
                json!({"engine": {"mediamtx_version": "v1.16.2/../../x"}}),
                "body.engine.mediamtx_version",
            ),
            (
                json!({"engine": {"mse_sidecar": {"go2rtc_version": "../../bin"}}}),
                "body.engine.mse_sidecar.go2rtc_version",
            ),
        ] {
            let (status, body) = service.patch("/settings", &patch).await;
            assert_eq!(status, 422, "{patch}: {body}");
            assert_eq!(first_loc(&body), loc, "{body}");
        }
        assert_eq!(full_settings(&service).await, before);
    }

    #[tokio::test]
    async fn cameras_are_read_over_rtsp_only() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        for url in [
            "/etc/passwd",
            "file:///etc/shadow",
            "http://127.0.0.1:9997/v3/config/global/get",
            "lavfi:movie=/etc/passwd",
            "concat:/etc/passwd",
            "demo:1x1;rm",
        ] {
            let camera = json!({"id": "c", "sources": [{"id": "s", "origin": {"rtsp_url": url}}]});
            let response = service
                .http
                .post(format!("{}/api/cameras", service.root))
                .json(&camera)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 422, "{url}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(first_loc(&body), "body.sources.0.origin.rtsp_url", "{body}");
            let node = json!({"name": "p", "graph": {"nodes": [
                {"id": "cam", "operator": "camera.source", "config": {"rtsp_url": url}}], "edges": []}});
            let response = service
                .http
                .put(format!("{}/api/pipelines/p", service.root))
                .json(&node)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 422, "pipeline node {url}");
        }
        let cameras: Value = service
            .http
            .get(format!("{}/api/cameras", service.root))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(cameras, json!([]));
    }

    #[tokio::test]
    async fn a_media_token_never_leaves_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"name": "A", "path": "a", "outputs": [{"id": "h", "protocol": "hls"}]}),
            )
            .await;
        let a = created["id"].as_str().unwrap().to_string();
        let hls = service.media_path(&a, "hls").await;
        let token = hls.split("media_token=").nth(1).unwrap();
        // Sent raw: an HTTP client library would normalise some of these before sending.
        let address = service.root.trim_start_matches("http://").to_string();
        for escape in [
            "%2e%2e/b",
            "%252e%252e/b",
            ".%2e/b",
            "%2e./b",
            "..%2fb",
            "%2E%2E/b",
            "../b",
        ] {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
            let request = format!(
                "GET /api/streams/media/hls/a/{escape}/index.m3u8?media_token={token} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            let status = answer.split(' ').nth(1).unwrap_or_default().to_string();
            assert!(
                status == "400" || status == "401",
                "{escape}: refused before the engine is asked: {answer}"
            );
        }
        let other = format!(
            "{}/api/streams/media/hls/b/index.m3u8?media_token={token}",
            service.root
        );
        assert_eq!(
            service.anonymous.get(&other).send().await.unwrap().status(),
            401
        );
    }

    #[tokio::test]
    async fn credentials_inline_in_a_url_are_redacted_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let cameras = format!("{}/api/cameras", service.root);
        let camera = json!({"id": "c", "sources": [{"id": "s",
            "origin": {"rtsp_url": "rtsp://admin:pw-123@192.0.2.5/main"}}]});
        let created: Value = service
            .http
            .post(&cameras)
            .json(&camera)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let shown = created["sources"][0]["origin"]["rtsp_url"].clone();
        assert_eq!(shown, "rtsp://admin:********@192.0.2.5/main");
        for answer in [
            service
                .http
                .get(&cameras)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            service.get("/settings").await.1.to_string(),
            service.get("/publications").await.1.to_string(),
            service.get("/runtime/pipelines").await.1.to_string(),
        ] {
            assert!(!answer.contains("pw-123"), "{answer}");
        }
        // Sent back as read, the stored password stays.
        let mut edited = created.clone();
        edited["name"] = json!("Front");
        let response = service
            .http
            .put(format!("{cameras}/c"))
            .json(&edited)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let secrets = full_settings(&service).await;
        assert_eq!(
            secrets["cameras"][0]["sources"][0]["origin"]["rtsp_url"],
            "rtsp://admin:pw-123@192.0.2.5/main"
        );
        // The marker on a new camera would become its password: refused.
        for origin in [
            json!({"rtsp_url": "rtsp://admin:********@192.0.2.6/main"}),
            json!({"rtsp_url": "rtsp://192.0.2.6/main", "stream_password": "********"}),
        ] {
            let camera = json!({"id": "d", "sources": [{"id": "s", "origin": origin}]});
            let response = service
                .http
                .post(&cameras)
                .json(&camera)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 422, "{origin}");
        }
    }

    #[tokio::test]
    async fn wrong_types_and_hostile_ids_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        service.post("/transmissions", &front_door()).await;
        let before = full_settings(&service).await;
        for (patch, loc) in [
            (json!({"engine": []}), "body.engine"),
            (json!({"engine": {"jsmpeg": [1]}}), "body.engine.jsmpeg"),
            (json!({"engine": "off"}), "body.engine"),
            (json!({"transmissions": {}}), "body.transmissions"),
        ] {
            let (status, body) = service.patch("/settings", &patch).await;
            assert_eq!(status, 422, "{patch}: {body}");
            assert_eq!(first_loc(&body), loc, "{body}");
        }
        let long = "x".repeat(500_000);
        for id in ["../etc", "a/b", "nul\u{0}", "cr\r\nlf", long.as_str(), ".."] {
            let (status, body) = service
                .post(
                    "/transmissions",
                    &json!({"id": id, "name": "n", "path": "p"}),
                )
                .await;
            assert_eq!(status, 422, "{:?}: {body}", &id[..id.len().min(20)]);
            assert_eq!(first_loc(&body), "body.id");
        }
        for (body, loc) in [
            (json!({"name": "x".repeat(201), "path": "p"}), "body.name"),
            (
                json!({"id": "!!!", "name": "n", "path": "%%%"}),
                "body.path",
            ),
            (
                json!({"name": "n", "path": "p", "outputs": (0..33).map(|i| json!({"id": format!("o{i}"), "protocol": "rtsp"})).collect::<Vec<_>>()}),
                "body.outputs",
            ),
        ] {
            let (status, answer) = service.post("/transmissions", &body).await;
            assert_eq!(status, 422, "{answer}");
            assert_eq!(first_loc(&answer), loc, "{answer}");
        }
        let pipelines = format!("{}/api/pipelines/x", service.root);
        let response = service
            .http
            .put(&pipelines)
            .json(&json!({"graph": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422);
        let (status, _) = service
            .get("/transmissions/front-door/urls?media_token_ttl_seconds=NaN")
            .await;
        assert!(status == 422 || status == 404, "{status}");
        let camera = json!({"id": "c", "sources": [{"id": "s", "video": {"fps": 1.8e19},
            "origin": {"rtsp_url": "rtsp://192.0.2.5/main"}}]});
        let response = service
            .http
            .post(format!("{}/api/cameras", service.root))
            .json(&camera)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422);
        assert_eq!(
            full_settings(&service).await,
            before,
            "refused writes changed nothing"
        );
        // A Unicode path keeps its letters, in the engine's alphabet.
        let (status, created) = service
            .post(
                "/transmissions",
                &json!({"name": "Sala", "path": "câmera-sala"}),
            )
            .await;
        assert_eq!(status, 200, "{created}");
        assert_eq!(created["path"], "camera-sala");
        // A path with nothing usable takes the (id's) slug, never raw text.
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"id": "Cam 9", "name": "n", "path": "!!!"}),
            )
            .await;
        assert_eq!(created["path"], "cam-9");
    }

    /// Reads until the service closes the connection; answers how long that took.
    async fn closed_within(
        stream: &mut tokio::net::TcpStream,
        limit: std::time::Duration,
    ) -> std::time::Duration {
        use tokio::io::AsyncReadExt;
        let start = std::time::Instant::now();
        let mut buffer = [0u8; 4096];
        loop {
            match tokio::time::timeout(
                limit.saturating_sub(start.elapsed()),
                stream.read(&mut buffer),
            )
            .await
            {
                Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
                Ok(Ok(_)) => continue,
                Err(_) => panic!("the connection stayed open for {limit:?}"),
            }
        }
    }

    #[tokio::test]
    async fn idle_slow_and_kept_alive_connections_are_closed() {
        use tokio::io::AsyncWriteExt;
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let address = service.root.trim_start_matches("http://").to_string();
        let limit = std::time::Duration::from_secs(20);
        let idle = async {
            let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
            closed_within(&mut stream, limit).await
        };
        // Slowloris: a header that never ends, one byte at a time.
        let slow = async {
            let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
            let head = b"GET /api/streams/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
            let start = std::time::Instant::now();
            for byte in head.iter().cycle() {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                assert!(
                    start.elapsed() < limit,
                    "a slow header kept the connection open"
                );
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
            start.elapsed()
        };
        let kept_alive = async {
            let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
            let request = format!("GET /api/streams/health HTTP/1.1\r\nHost: {address}\r\n\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            closed_within(&mut stream, limit).await
        };
        let (idle, slow, kept_alive) = tokio::join!(idle, slow, kept_alive);
        for (what, took) in [("idle", idle), ("slow", slow), ("kept alive", kept_alive)] {
            assert!(took < limit, "{what}: {took:?}");
        }
    }

    #[tokio::test]
    async fn sockets_past_the_cap_do_not_starve_the_service() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start_with(
            dir.path(),
            &[("TOPOSYNC_MAX_CONNECTIONS", std::path::Path::new("16"))],
        );
        let address = service.root.trim_start_matches("http://").to_string();
        let mut idle = Vec::new();
        for _ in 0..64 {
            idle.push(tokio::net::TcpStream::connect(&address).await.unwrap());
        }
        // Those past the cap are closed at once; the rest by the header timeout.
        let health = service.url("/health");
        eventually(std::time::Duration::from_secs(25), || {
            let request = service.anonymous.get(&health).send();
            async move { (request.await.ok()?.status() == 200).then_some(()) }
        })
        .await;
        drop(idle);
    }

    #[tokio::test]
    async fn a_frame_is_refused_on_its_declared_length_before_it_is_sent() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, created) = service.post("/transmissions", &front_door()).await;
        let id = created["id"].as_str().unwrap();
        let address = service.root.trim_start_matches("http://").to_string();
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let head = format!(
            "POST /api/streams/transmissions/{id}/writers/w/frame?width=2&height=2 HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Length: 33554432\r\n\r\n",
            service.admin_token
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // No body sent: the answer comes anyway.
        let mut answer = vec![0u8; 4096];
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
                .await
                .expect("answered without the body")
                .unwrap();
        let answer = String::from_utf8_lossy(&answer[..read]);
        assert!(answer.starts_with("HTTP/1.1 422"), "{answer}");
        assert!(
            answer.contains("frame is 12 bytes, got 33554432"),
            "{answer}"
        );
    }

    #[tokio::test]
    async fn a_jsmpeg_viewer_that_stops_reading_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (_, created) = service
            .post(
                "/transmissions",
                &json!({"name": "Lab", "path": "lab", "outputs": [
                {"id": "hls", "protocol": "hls", "resolution": {"width": 320, "height": 240}}]}),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        let url = service.ws_url(&service.media_path(&id, "jsmpeg").await);
        // Connected, then never read again (not even the pings).
        let (socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        let running = || async {
            let (_, status) = service.get("/jsmpeg/status").await;
            status["running_session_count"].as_u64().unwrap_or(0)
        };
        eventually(std::time::Duration::from_secs(10), || async {
            (running().await == 1).then_some(())
        })
        .await;
        eventually(std::time::Duration::from_secs(40), || async {
            (running().await == 0).then_some(())
        })
        .await;
        drop(socket);
    }

    #[tokio::test]
    async fn concurrent_writes_on_a_large_document_say_what_happened() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let transmission = |id: String| {
            json!({"id": id, "name": id, "path": id,
                   "outputs": [{"id": "hls", "protocol": "hls"}, {"id": "rtsp", "protocol": "rtsp"}]})
        };
        let many: Vec<Value> = (0..150).map(|n| transmission(format!("t{n}"))).collect();
        let (status, _) = service
            .patch("/settings", &json!({"transmissions": many}))
            .await;
        assert_eq!(status, 200);
        let writes: Vec<_> = (0..40)
            .map(|n| {
                let http = service.http.clone();
                let url = service.url("/transmissions");
                let body = transmission(format!("c{n}"));
                tokio::spawn(async move {
                    let status = http.post(url).json(&body).send().await.unwrap().status();
                    (format!("c{n}"), status.as_u16())
                })
            })
            .collect();
        let mut answers = Vec::new();
        for write in writes {
            answers.push(write.await.unwrap());
        }
        let (_, list) = service.get("/transmissions").await;
        let stored: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["id"].as_str())
            .collect();
        for (id, status) in &answers {
            assert!([200, 503].contains(status), "{id}: {status}");
            assert_eq!(
                *status == 200,
                stored.contains(&id.as_str()),
                "{id} answered {status}"
            );
        }
    }

    /// Generated garbage against every kind of route (deterministic: the same 400 requests on
    /// every run): never a 5xx, and a refused request changes nothing.
    #[tokio::test]
    async fn hostile_requests_get_4xx_and_change_nothing() {
        use proptest::strategy::{Strategy, ValueTree};
        use proptest::test_runner::TestRunner;
        use toposync_test_stand_ins::hostile;
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        service.post("/transmissions", &front_door()).await;
        let routes = [
            ("PATCH", "/api/streams/settings"),
            ("POST", "/api/streams/transmissions"),
            ("PUT", "/api/streams/transmissions/{}"),
            ("DELETE", "/api/streams/transmissions/{}x"),
            ("GET", "/api/streams/transmissions/{}/urls"),
            ("GET", "/api/streams/transmissions/{}/playback-plan"),
            ("POST", "/api/streams/transmissions/{}/demand/prime"),
            ("POST", "/api/streams/transmissions/{}/demand/heartbeat"),
            ("POST", "/api/cameras"),
            ("PUT", "/api/cameras/{}"),
            ("PUT", "/api/pipelines/{}"),
            ("PUT", "/api/streams/live-views/{}"),
            ("PUT", "/api/streams/publications/camera-sources/{}/{}"),
            ("POST", "/api/streams/wizard/create-pipeline"),
            ("POST", "/api/streams/transmissions/{}/webrtc/offer"),
            ("GET", "/api/streams/media/hls/{}/{}"),
            ("GET", "/api/streams/transmissions/{}/still.jpg"),
        ];
        // As a client would put it in a path.
        fn segment() -> impl Strategy<Value = String> {
            hostile::text().prop_map(|s| {
                s.bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'%' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect::<String>()
            })
        }
        let case = (0..routes.len(), segment(), segment(), hostile::json());
        let mut runner = TestRunner::deterministic();
        let mut refused = 0;
        for _ in 0..400 {
            let (route, first, second, body) = case.new_tree(&mut runner).unwrap().current();
            let (method, template) = routes[route];
            let path = template
                .replacen("{}", &first, 1)
                .replacen("{}", &second, 1);
            let before = full_settings(&service).await;
            let request = service
                .http
                .request(method.parse().unwrap(), format!("{}{path}", service.root))
                .json(&body);
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let answer = response.text().await.unwrap_or_default();
            assert!(status < 500, "{method} {path} {body}: {status} {answer}");
            if status >= 400 {
                refused += 1;
                assert_eq!(
                    full_settings(&service).await,
                    before,
                    "{method} {path} {body} answered {status} and changed the settings"
                );
            }
        }
        assert!(refused > 300, "the garbage was refused ({refused} of 400)");
    }
}

/// Players' playback events as evidence (`POST /runtime/playback-events`).
mod playback_events {
    use super::*;

    /// The demo camera is a demand-driven pipeline: with no viewer its streams are
    /// `demand_idle` with the spec's evidence; a prime is demand, and the class moves on.
    #[tokio::test]
    async fn a_demand_driven_stream_without_viewers_is_demand_idle() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start_demo(dir.path());
        let id = "tx-camera-demo-sub-sub";
        let idle = service.transmission_health(id).await;
        assert_eq!(idle["classification"], "demand_idle", "{idle}");
        assert_eq!(idle["demand_driven"], true);
        assert_eq!(idle["demand_idle"], true);
        assert_eq!(
            idle["evidence"],
            json!(["Stream is demand-driven and currently has no viewer or heartbeat demand."])
        );
        assert_eq!(idle["summary_message"], "Waiting for viewer demand.");
        for output in idle["outputs"].as_array().unwrap() {
            assert_eq!(output["classification"], "demand_idle", "{output}");
        }
        let (_, seen) = service.get("/runtime/observability").await;
        let item = seen["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["transmission_id"] == id)
            .unwrap();
        assert_eq!(item["classification"], "demand_idle", "{item}");
        // The item links the implicit pipeline that feeds it.
        assert_eq!(item["pipeline"]["transmission_id"], id, "{item}");
        assert_eq!(item["pipeline"]["demand_driven"], true, "{item}");

        let (code, _) = service
            .post(&format!("/transmissions/{id}/demand/prime"), &json!({}))
            .await;
        assert_eq!(code, 200);
        let demanded = service.transmission_health(id).await;
        assert_eq!(demanded["demand_idle"], false, "{demanded}");
        assert_ne!(demanded["classification"], "demand_idle", "{demanded}");
    }

    /// A player's first frame and fallback reach `/metrics` with bounded labels; a scrape needs
    /// a credential (a viewer's is enough).
    #[tokio::test]
    async fn player_first_frames_and_fallbacks_are_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let now = toposync_actors::unix_now();
        let (code, answer) = service
            .post(
                "/runtime/playback-events",
                &batch(json!([
                    {"type": "playback_requested", "at_unix": now},
                    {"type": "transport_fallback", "at_unix": now + 0.1,
                     "data": {"from": "WebRTC", "to": "<hls>"}},
                    {"type": "first_frame", "at_unix": now + 1.5,
                     "data": {"effective_transport": "hls"}},
                    {"type": "first_frame", "at_unix": now + 1.6,
                     "data": {"transport": "mse", "time_to_first_frame_ms": 800}}])),
            )
            .await;
        assert_eq!(code, 200, "{answer}");
        let scraped = support::scrape_metrics(&service).await;
        let histogram = "toposync_time_to_first_frame_seconds";
        let by_player = |transport| [("transport", transport), ("measured_by", "player")];
        assert_eq!(
            support::metric(&scraped, histogram, &by_player("hls")),
            Some(1.0)
        );
        assert_eq!(
            support::metric(&scraped, histogram, &by_player("mse")),
            Some(1.0)
        );
        // The HLS sample is the time since the session's first event (1.5 s): in le=2, not le=1.
        let hls = scraped
            .samples
            .iter()
            .find(|s| s.metric == histogram && s.labels.get("transport") == Some("hls"))
            .unwrap();
        let prometheus_parse::Value::Histogram(buckets) = &hls.value else {
            panic!("{hls:?}")
        };
        let count_at = |le: f64| buckets.iter().find(|b| b.less_than == le).unwrap().count;
        assert_eq!((count_at(1.0), count_at(2.0)), (0.0, 1.0), "{buckets:?}");
        let fallback = [("from", "webrtc"), ("to", "other")];
        assert_eq!(
            support::metric(&scraped, "toposync_transport_fallbacks_total", &fallback),
            Some(1.0),
            "a transport name outside the closed set is `other`"
        );
        let anonymous = service
            .anonymous
            .get(format!("{}/metrics", service.root))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401);
        let viewer = support::client_with(&service.viewer_token)
            .get(format!("{}/metrics", service.root))
            .send()
            .await
            .unwrap();
        assert_eq!(viewer.status(), 200);
        let text = viewer.text().await.unwrap();
        assert!(!text.contains("<hls>"), "no client text becomes a label");
    }

    fn batch(events: Value) -> Value {
        json!({"playback_session_id": "s1", "transmission_id": "door", "output_id": "main",
               "client_kind": "web", "platform": "chrome", "events": events})
    }

    #[tokio::test]
    async fn an_auth_failure_reported_by_a_player_classifies_the_stream_until_it_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        service
            .post(
                "/transmissions",
                &json!({"id": "door", "name": "Door", "path": "door",
                        "outputs": [{"id": "main", "protocol": "hls"}]}),
            )
            .await;
        let now = toposync_actors::unix_now();
        // A viewer may report (it is a READ route).
        let viewer = support::client_with(&service.viewer_token);
        let answer: Value = viewer
            .post(service.url("/runtime/playback-events"))
            .json(&batch(json!([
                {"type": "playback_requested", "at_unix": now},
                {"type": "hls_error", "severity": "error", "at_unix": now + 0.5,
                 "message": "HTTP 401 Unauthorized", "data": {"url": "http://x/y", "token": "t"}}])))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer, json!({"accepted": 2, "retained": 2}));
        let health = service.transmission_health("door").await;
        assert_eq!(health["classification"], "auth_url_error", "{health}");
        assert!(
            health["evidence"]
                .as_array()
                .unwrap()
                .contains(&json!("Recent playback event indicates auth failure.")),
            "{health}"
        );
        assert_eq!(health["active_playback_session_count"], 1);
        assert!(health["last_playback_event_at_unix"].as_f64().unwrap() >= now);
        assert_eq!(
            health["summary_message"],
            "Action needed: playback failed and has not recovered."
        );
        // Observability shows it in one place: the session, the event (redacted) and the class.
        let (status, seen) = service.get("/runtime/observability").await;
        assert_eq!(status, 200);
        assert_eq!(seen["retention_seconds"], 900.0);
        let item = &seen["items"][0];
        assert_eq!(item["output_key"], "door:main", "{seen}");
        assert_eq!(item["classification"], "auth_url_error");
        assert_eq!(
            item["active_playback_sessions"][0]["playback_session_id"],
            "s1"
        );
        assert_eq!(
            item["active_playback_sessions"][0]["last_type"],
            "hls_error"
        );
        let event = &item["recent_events"][1];
        assert_eq!(
            event["data"],
            json!({"url": "[REDACTED]", "token": "[REDACTED]"})
        );
        assert_eq!(item["mediamtx"]["path"]["name"], "door");
        // The player recovered: the failure is no longer evidence.
        let (status, _) = service
            .post(
                "/runtime/playback-events",
                &batch(json!([{"type": "first_frame", "at_unix": now + 1.0}])),
            )
            .await;
        assert_eq!(status, 200);
        let health = service.transmission_health("door").await;
        assert_ne!(health["classification"], "auth_url_error", "{health}");
    }

    #[tokio::test]
    async fn a_transmission_without_enabled_outputs_has_its_own_observability_item() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let (status, _) = service
            .post(
                "/transmissions",
                &json!({"id": "bare", "name": "Bare", "path": "bare",
                        "outputs": [{"id": "main", "protocol": "hls", "enabled": false}]}),
            )
            .await;
        assert_eq!(status, 200);
        let now = toposync_actors::unix_now();
        let (status, _) = service
            .post(
                "/runtime/playback-events",
                &json!({"playback_session_id": "s2", "transmission_id": "bare",
                        "client_kind": "web", "platform": "chrome", "events": [{"type": "first_frame", "at_unix": now}]}),
            )
            .await;
        assert_eq!(status, 200);
        let (status, seen) = service.get("/runtime/observability").await;
        assert_eq!(status, 200);
        let items = seen["items"].as_array().unwrap();
        let item = items
            .iter()
            .find(|item| item["transmission_id"] == "bare")
            .unwrap_or_else(|| panic!("no item for the transmission: {seen}"));
        // As the original: the transmission's synthetic output stands in for the missing ones.
        assert_eq!(item["output_key"], "bare:default");
        assert_eq!(item["output_id"], "default");
        assert!(item["classification"].is_string(), "{item}");
        assert_eq!(item["health"]["transmission_id"], "bare");
        assert_eq!(
            item["active_playback_sessions"][0]["playback_session_id"],
            "s2"
        );
        assert_eq!(item["recent_events"][0]["type"], "first_frame");
    }

    #[tokio::test]
    async fn event_batches_are_checked_field_by_field() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let event = json!({"type": "tick", "at_unix": 1.0});
        for (body, loc) in [
            (batch(json!([])), "body.events"),
            (batch(json!(vec![event.clone(); 51])), "body.events"),
            (
                {
                    let mut b = batch(json!([event.clone()]));
                    b["client_kind"] = json!("tv");
                    b
                },
                "body.client_kind",
            ),
            (
                batch(json!([{"type": "tick", "at_unix": 1.0, "severity": "fatal"}])),
                "body.events.0.severity",
            ),
            (batch(json!([{"type": "tick"}])), "body.events.0.at_unix"),
        ] {
            let (status, answer) = service.post("/runtime/playback-events", &body).await;
            assert_eq!(status, 422, "{body}: {answer}");
            assert_eq!(first_loc(&answer), loc, "{answer}");
        }
    }

    #[tokio::test]
    async fn the_diagnostic_snapshot_names_no_camera_secret_or_host() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let camera = json!({"id": "front", "sources": [{"id": "main", "role": "main", "is_default": true,
            "origin": {"rtsp_url": "rtsp://admin:s3cret-pw@192.0.2.77:554/main",
                       "stream_username": "viewer", "stream_password": "other-pw"}}]});
        let response = service
            .http
            .post(format!("{}/api/cameras", service.root))
            .json(&camera)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let (_, urls) = service
            .get("/transmissions/tx-camera-front-main-main/urls")
            .await;
        let token_url = urls["outputs"][0]["url"].as_str().unwrap().to_string();
        let now = toposync_actors::unix_now();
        service
            .post(
                "/runtime/playback-events",
                &json!({"playback_session_id": "s", "transmission_id": "tx-camera-front-main-main",
                        "client_kind": "web", "platform": "chrome",
                        "events": [{"type": "hls_error", "severity": "error", "at_unix": now,
                                    "message": "failed", "data": {"src": token_url}}]}),
            )
            .await;
        for route in ["/runtime/diagnostic-snapshot", "/runtime/diagnostics"] {
            let (status, snapshot) = service.get(route).await;
            assert_eq!(status, 200, "{snapshot}");
            let text = snapshot.to_string();
            for secret in ["s3cret-pw", "other-pw", "192.0.2.77", "media_token="] {
                assert!(!text.contains(secret), "{route} shows {secret}");
            }
        }
        let (_, snapshot) = service.get("/runtime/diagnostic-snapshot").await;
        for part in [
            "health",
            "outputs",
            "pipelines",
            "observability",
            "encoders",
            "diagnostics",
            "actors",
        ] {
            assert!(!snapshot[part].is_null(), "{part} missing");
        }
    }
}

mod openapi {
    use super::*;

    async fn document(service: &Service) -> Value {
        let response = service
            .anonymous
            .get(format!("{}/api/streams/openapi.json", service.root))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "the document needs no credential");
        response.json().await.unwrap()
    }

    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut found = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                found.push((method.to_uppercase(), path.clone(), operation.clone()));
            }
        }
        found
    }

    /// The document is OpenAPI 3.1, lists the registry and pipeline routes beside the
    /// streaming API with the schemas of the types they parse and answer, and every
    /// operation id is unique.
    #[tokio::test]
    async fn the_document_covers_every_area_with_the_handlers_types() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let doc = document(&service).await;
        assert_eq!(doc["openapi"], "3.1.0");
        for path in [
            "/api/cameras",
            "/api/cameras/{id}",
            "/api/pipelines",
            "/api/pipelines/{name}",
            "/api/streams/transmissions/{id}/urls",
            "/api/streams/settings",
            "/api/streams/runtime/observability",
            "/api/streams/media/hls/{engine_path}/{file}",
            "/api/streams/auth/login",
            "/metrics",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
        }
        let camera = &doc["paths"]["/api/cameras"]["post"];
        assert_eq!(
            camera["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Camera"
        );
        let transmission = &doc["components"]["schemas"]["Transmission"]["properties"];
        assert!(transmission.get("outputs").is_some(), "{transmission}");
        let operations = operations(&doc);
        assert!(operations.len() >= 70, "{} operations", operations.len());
        let mut ids: Vec<&str> = operations
            .iter()
            .map(|(_, _, op)| op["operationId"].as_str().unwrap())
            .collect();
        ids.sort();
        let count = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), count, "operation ids repeat");
        for (method, path, operation) in &operations {
            assert_eq!(
                operation["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path}"
            );
        }
    }

    /// What the document says each operation needs is what the gate enforces, and every
    /// documented operation is routed (none falls through to the router's own 404/405).
    #[tokio::test]
    async fn every_documented_operation_is_routed_and_guarded_as_documented() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let doc = document(&service).await;
        let viewer = support::client_with(&service.viewer_token);
        for (method, path, operation) in operations(&doc) {
            // Unknown ids: each handler answers its own not-found or refusal.
            let concrete = path
                .split('/')
                .map(|part| if part.starts_with('{') { "nope" } else { part })
                .collect::<Vec<_>>()
                .join("/");
            let url = format!("{}{concrete}", service.root);
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let role = operation["x-required-role"].as_str().unwrap();
            let anonymous = service
                .anonymous
                .request(method.clone(), &url)
                .send()
                .await
                .unwrap();
            match role {
                "admin" | "viewer" => {
                    assert_eq!(
                        anonymous.status(),
                        401,
                        "{method} {path} without a credential"
                    );
                }
                "none" => assert_ne!(
                    anonymous.status(),
                    401,
                    "{method} {path} is documented open"
                ),
                // The handler checks the media token; without one it refuses (401).
                _ => assert_eq!(role, "media_token", "{method} {path}"),
            }
            if role == "admin" {
                let refused = viewer.request(method.clone(), &url).send().await.unwrap();
                assert_eq!(
                    refused.status(),
                    403,
                    "{method} {path} with the viewer token"
                );
            }
            // Side effects on the engine or the network are not this test's business.
            let starts_something = method == reqwest::Method::POST
                && (path.contains("/engine/") || path.contains("/mse/"));
            if role == "admin" && starts_something {
                continue;
            }
            let response = service
                .http
                .request(method.clone(), &url)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            let fell_through = (status == 404 && body.contains("\"Not Found\"")) || status == 405;
            assert!(
                !fell_through,
                "{method} {path} is not routed: {status} {body}"
            );
        }
    }
}

mod dashboard {
    use super::*;

    /// Behind a reverse proxy or Home Assistant ingress, the pages, their scripts and the signed
    /// media URLs all resolve under the prefix the proxy names.
    #[tokio::test]
    async fn pages_and_media_urls_follow_the_proxy_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        let page = |path: &'static str, header: Option<(&'static str, &'static str)>| {
            let mut request = service.anonymous.get(format!("{}{path}", service.root));
            if let Some((name, value)) = header {
                request = request.header(name, value);
            }
            async move { request.send().await.unwrap().text().await.unwrap() }
        };
        let ingress = Some(("x-ingress-path", "/api/hassio_ingress/tok"));
        for path in ["/", "/streams/debug", "/settings", "/login"] {
            assert!(
                page(path, None).await.contains(r#"<base href="/" />"#),
                "{path}"
            );
            let html = page(path, ingress).await;
            assert!(
                html.contains(r#"<base href="/api/hassio_ingress/tok/" />"#),
                "{path}: {html}"
            );
        }
        // A prefix that could leave the attribute is no prefix.
        let hostile = page(
            "/settings",
            Some(("x-forwarded-prefix", "/\"><script>alert(1)</script>")),
        )
        .await;
        assert!(hostile.contains(r#"<base href="/" />"#), "{hostile}");
        assert!(!hostile.contains("alert(1)"));

        let (status, created) = service
            .post(
                "/transmissions",
                &json!({"name": "n", "path": "door", "outputs": [{"id": "h", "protocol": "hls"}]}),
            )
            .await;
        assert_eq!(status, 200, "{created}");
        let urls: Value = service
            .http
            .get(service.url(&format!(
                "/transmissions/{}/urls",
                created["id"].as_str().unwrap()
            )))
            .header("x-ingress-path", "/api/hassio_ingress/tok")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for output in urls["outputs"].as_array().unwrap() {
            let url = output["url"].as_str().unwrap();
            assert!(
                url.starts_with("/api/hassio_ingress/tok/api/streams/media/"),
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn the_pages_and_their_assets_are_served_without_a_credential() {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::start(dir.path());
        for (page, script) in [
            ("/", "/assets/streams.js"),
            (
                "/streams/debug?live_view_id=x&transport=mse",
                "/assets/debug.js",
            ),
            ("/settings", "/assets/settings.js"),
        ] {
            let answer = service
                .anonymous
                .get(format!("{}{page}", service.root))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200, "{page}");
            assert!(
                answer.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html"),
                "{page}"
            );
            let html = answer.text().await.unwrap();
            assert!(html.contains(script), "{page}: {html}");
        }
        for (asset, kind) in [
            ("streams.js", "text/javascript"),
            ("debug.js", "text/javascript"),
            ("settings.js", "text/javascript"),
            ("common.js", "text/javascript"),
            ("common.css", "text/css"),
            ("hls.js", "text/javascript"),
            ("jsmpeg.js", "text/javascript"),
        ] {
            let answer = service
                .anonymous
                .get(format!("{}/assets/{asset}", service.root))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200, "{asset}");
            assert_eq!(answer.headers()["content-type"], kind, "{asset}");
            assert!(!answer.bytes().await.unwrap().is_empty(), "{asset}");
        }
        let missing = service
            .anonymous
            .get(format!("{}/assets/nothing.js", service.root))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        let body: Value = missing.json().await.unwrap();
        assert!(body["detail"].is_string());
        // What the page shows still needs a credential.
        let views = service
            .anonymous
            .get(service.url("/camera-live-views"))
            .send()
            .await
            .unwrap();
        assert_eq!(views.status(), 401);
    }
}

mod distributed {
    use super::*;
    use std::path::Path;
    use std::time::Duration;

    const SYNC_USER: &str = "gpu-sync";
    const SYNC_PASSWORD: &str = "sync-password-not-a-role-token";

    fn core(dir: &Path) -> Service {
        Service::start_with(
            dir,
            &[
                ("TOPOSYNC_STREAMING_SYNC_USERNAME", Path::new(SYNC_USER)),
                ("TOPOSYNC_STREAMING_SYNC_PASSWORD", Path::new(SYNC_PASSWORD)),
            ],
        )
    }

    fn basic(user: &str, password: &str) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        let encoded = base64_encode(&format!("{user}:{password}"));
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Basic {encoded}").parse().unwrap(),
        );
        toposync_actors::net::http_client_builder()
            .default_headers(headers)
            .build()
            .unwrap()
    }

    fn base64_encode(text: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    async fn register_gpu(service: &Service) {
        let (status, body) = service
            .patch(
                "/settings",
                &json!({"processing_servers": [{"id": "gpu", "name": "GPU box",
                    "url": "http://127.0.0.1:9", "username": "core", "password": "server-secret"}]}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["processing_servers"][0]["password"], "********");
        assert_eq!(body["processing_servers"][0]["kind"], "http");
    }

    /// The sync credentials open the processing server's share, with its secrets, and nothing
    /// else; an admin sees the share redacted.
    #[tokio::test]
    async fn the_share_is_scoped_to_its_server_and_its_credentials_to_the_share() {
        let dir = tempfile::tempdir().unwrap();
        let service = core(dir.path());
        register_gpu(&service).await;
        let mut remote = front_door();
        remote["host_server_id"] = json!("gpu");
        remote["outputs"][0]["authentication"] =
            json!({"enabled": true, "username": "viewer", "password": "output-secret"});
        let (status, created) = service.post("/transmissions", &remote).await;
        assert_eq!(status, 200, "{created}");
        let (status, _) = service
            .post("/transmissions", &json!({"name": "here", "path": "here"}))
            .await;
        assert_eq!(status, 200);

        let sync = basic(SYNC_USER, SYNC_PASSWORD);
        let answer = sync
            .get(service.url("/distributed/settings/gpu"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let share: Value = answer.json().await.unwrap();
        let hosted: Vec<&str> = share["transmissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["path"].as_str().unwrap())
            .collect();
        assert_eq!(hosted, ["front-door"]);
        assert!(
            share.to_string().contains("output-secret"),
            "the processing engine enforces it"
        );
        assert!(!share.to_string().contains("server-secret"), "{share}");

        // Never the core's own share (its secrets) with the sync credentials.
        let own = sync
            .get(service.url("/distributed/settings/local"))
            .send()
            .await
            .unwrap();
        assert_eq!(own.status(), 403);
        let (status, shown) = service.get("/distributed/settings/gpu").await;
        assert_eq!(status, 200);
        assert!(
            !shown.to_string().contains("output-secret"),
            "redacted for an admin"
        );
        let (status, unknown) = service.get("/distributed/settings/nas").await;
        assert_eq!(
            (status, unknown["detail"].as_str()),
            (400, Some("Unknown host_server_id: nas"))
        );

        // Anywhere else the sync credentials are no credential at all.
        for path in ["/settings", "/transmissions", "/runtime/actors"] {
            let refused = sync.get(service.url(path)).send().await.unwrap();
            assert_eq!(refused.status(), 401, "{path}");
        }
        let wrong = basic(SYNC_USER, "guess");
        let refused = wrong
            .get(service.url("/distributed/settings/gpu"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        // No secret of a processing server in any answer.
        for path in [
            "/settings",
            "/distributed/settings/gpu",
            "/runtime/diagnostics",
        ] {
            let (_, body) = service.get(path).await;
            assert!(!body.to_string().contains("server-secret"), "{path}");
        }
    }

    fn processing(dir: &Path, core_url: &str, password: &str) -> Service {
        Service::start_with(
            dir,
            &[
                ("TOPOSYNC_ROLE", Path::new("processing")),
                ("TOPOSYNC_PROCESSING_SERVER_ID", Path::new("gpu")),
                ("TOPOSYNC_STREAMING_SYNC_CORE_URL", Path::new(core_url)),
                ("TOPOSYNC_STREAMING_SYNC_USERNAME", Path::new(SYNC_USER)),
                ("TOPOSYNC_STREAMING_SYNC_PASSWORD", Path::new(password)),
                ("TOPOSYNC_STREAMING_SYNC_INTERVAL_SECONDS", Path::new("0.5")),
            ],
        )
    }

    async fn sync_status(service: &Service) -> Value {
        let (status, health) = service.get("/health").await;
        assert_eq!(status, 200);
        health["sync"].clone()
    }

    async fn hosted_paths(service: &Service) -> Vec<String> {
        let (_, list) = service.get("/transmissions").await;
        list.as_array()
            .unwrap()
            .iter()
            .map(|t| {
                format!(
                    "{}@{}",
                    t["path"].as_str().unwrap(),
                    t["host_server_id"].as_str().unwrap()
                )
            })
            .collect()
    }

    /// Two real instances: what the core says the processing server hosts runs there within two
    /// sync intervals; with the core away it keeps its revision, and takes changes again when
    /// the core is back.
    #[tokio::test]
    async fn a_processing_server_runs_its_share_and_keeps_it_while_the_core_is_away() {
        let core_dir = tempfile::tempdir().unwrap();
        let processing_dir = tempfile::tempdir().unwrap();
        let core_service = core(core_dir.path());
        register_gpu(&core_service).await;
        let gpu = processing(processing_dir.path(), &core_service.root, SYNC_PASSWORD);
        let (status, created) = core_service
            .post(
                "/transmissions",
                &json!({"name": "Garden", "path": "garden", "host_server_id": "gpu"}),
            )
            .await;
        assert_eq!(status, 200, "{created}");
        let started = std::time::Instant::now();
        eventually(Duration::from_secs(5), || async {
            (hosted_paths(&gpu).await == ["garden@local"]).then_some(())
        })
        .await;
        assert!(
            started.elapsed() <= Duration::from_millis(1500),
            "within two sync intervals: {:?}",
            started.elapsed()
        );
        let status = sync_status(&gpu).await;
        assert_eq!(status["server_id"], "gpu");
        assert_eq!(status["last_error"], Value::Null, "{status}");
        assert!(status["applied_revisions"].as_u64().unwrap() >= 1);
        let (_, tree) = gpu.get("/runtime/actors").await;
        assert!(tree.to_string().contains("\"settings_sync\""), "{tree}");
        // Persisted like any write: the processing side's own file holds it.
        let stored = std::fs::read_to_string(processing_dir.path().join("streaming-settings.json"))
            .unwrap_or_default();
        assert!(stored.contains("garden"), "persisted");

        // The core goes away: the last revision keeps running, and the failure is reported.
        let port: u16 = core_service
            .root
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        drop(core_service);
        eventually(Duration::from_secs(5), || async {
            let status = sync_status(&gpu).await;
            status["last_error"]
                .as_str()?
                .contains("Connection failed")
                .then_some(())
        })
        .await;
        assert_eq!(hosted_paths(&gpu).await, ["garden@local"]);
        let (_, health) = gpu.get("/health").await;
        assert!(
            health["warnings"]
                .to_string()
                .contains("serving the last revision"),
            "{health}"
        );

        // Back on its port, with a change: picked up.
        let core_service = Service::start_on(
            core_dir.path(),
            &[
                ("TOPOSYNC_STREAMING_SYNC_USERNAME", Path::new(SYNC_USER)),
                ("TOPOSYNC_STREAMING_SYNC_PASSWORD", Path::new(SYNC_PASSWORD)),
            ],
            port,
        );
        let (status, _) = core_service
            .post(
                "/transmissions",
                &json!({"name": "Shed", "path": "shed", "host_server_id": "gpu"}),
            )
            .await;
        assert_eq!(status, 200);
        eventually(Duration::from_secs(5), || async {
            let mut paths = hosted_paths(&gpu).await;
            paths.sort();
            (paths == ["garden@local", "shed@local"]).then_some(())
        })
        .await;
        assert_eq!(sync_status(&gpu).await["last_error"], Value::Null);

        // Wrong credentials: the core says 401, the processing side says so and keeps nothing new.
        let wrong_dir = tempfile::tempdir().unwrap();
        let wrong = processing(wrong_dir.path(), &core_service.root, "not-the-password");
        eventually(Duration::from_secs(5), || async {
            let status = sync_status(&wrong).await;
            status["last_error"]
                .as_str()?
                .contains("(401)")
                .then_some(())
        })
        .await;
        assert!(hosted_paths(&wrong).await.is_empty());
    }

    /// A stand-in core (the real one never answers this way): garbage, then an answer larger
    /// than a settings document can be. Neither changes the processing side.
    #[tokio::test]
    async fn a_garbage_or_oversized_answer_changes_nothing() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let fake = tokio::spawn(async move {
            for answer in 0.. {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let body = if answer % 2 == 0 {
                    b"<html>not settings</html>".to_vec()
                } else {
                    vec![b' '; 9 * 1024 * 1024]
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let gpu = processing(dir.path(), &format!("http://{address}"), SYNC_PASSWORD);
        let (status, _) = gpu
            .post("/transmissions", &json!({"name": "Own", "path": "own"}))
            .await;
        assert_eq!(status, 200);
        // Each pull's error replaces the last: poll until both were seen.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut seen = std::collections::BTreeSet::new();
        while seen.len() < 2 {
            assert!(std::time::Instant::now() < deadline, "saw only {seen:?}");
            if let Some(error) = sync_status(&gpu).await["last_error"].as_str() {
                if error.contains("Invalid JSON response") {
                    seen.insert("garbage");
                }
                if error.contains("larger than") {
                    seen.insert("oversized");
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            hosted_paths(&gpu).await,
            ["own@local"],
            "the revision stands"
        );
        fake.abort();
    }

    /// The core hands out a remote transmission's URLs as its processing server resolved them:
    /// absolute, pointing at the processing server, which signed (and checks) the media tokens;
    /// demand is forwarded; an unreachable processing server is the original's 502.
    #[tokio::test]
    async fn the_core_resolves_and_primes_a_remote_transmission_through_its_processing_server() {
        let core_dir = tempfile::tempdir().unwrap();
        let processing_dir = tempfile::tempdir().unwrap();
        let core_service = Service::start_with(
            core_dir.path(),
            &[
                ("TOPOSYNC_STREAMING_SYNC_USERNAME", Path::new(SYNC_USER)),
                ("TOPOSYNC_STREAMING_SYNC_PASSWORD", Path::new(SYNC_PASSWORD)),
                (
                    "TOPOSYNC_HOME_ASSISTANT_NATIVE_WEBRTC_ENABLED",
                    Path::new("true"),
                ),
            ],
        );
        let gpu = processing(processing_dir.path(), &core_service.root, SYNC_PASSWORD);
        // The core reaches the processing server with the processing server's viewer token.
        let (status, body) = core_service
            .patch(
                "/settings",
                &json!({"processing_servers": [{"id": "gpu", "url": gpu.root,
                    "username": "viewer", "password": gpu.viewer_token}]}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (_, created) = core_service
            .post(
                "/transmissions",
                &json!({"name": "Garden", "path": "garden", "host_server_id": "gpu",
                "outputs": [{"id": "hls_main", "protocol": "hls"}]}),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        eventually(Duration::from_secs(5), || async {
            (hosted_paths(&gpu).await == ["garden@local"]).then_some(())
        })
        .await;

        let (status, urls) = core_service.get(&format!("/transmissions/{id}/urls")).await;
        assert_eq!(status, 200, "{urls}");
        let warnings = urls["warnings"].to_string();
        assert!(
            warnings.contains("Resolved via processing server 'gpu'."),
            "{warnings}"
        );
        assert!(
            warnings.contains("URLs normalized to host '127.0.0.1'."),
            "{warnings}"
        );
        let hls = urls["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["protocol"] == "hls")
            .unwrap()["url"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            hls.starts_with(&format!(
                "{}/api/streams/media/hls/garden/index.m3u8?media_token=",
                gpu.root
            )),
            "{hls}"
        );
        // Resolving primed the output where it runs.
        let (_, outputs) = gpu.get("/runtime/outputs").await;
        assert_eq!(outputs["outputs"][0]["demand"]["primed"], true, "{outputs}");
        // The processing server checks the token it signed: its own passes the gate, a forged
        // one does not.
        let signed = core_service.anonymous.get(&hls).send().await.unwrap();
        assert_ne!(signed.status(), 401);
        let forged = format!("{}x", hls);
        let refused = core_service.anonymous.get(&forged).send().await.unwrap();
        assert_eq!(refused.status(), 401);

        let (status, primed) = core_service
            .post(
                &format!("/transmissions/{id}/demand/prime?output_id=hls_main"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{primed}");
        assert_eq!(
            primed["primed_outputs"], 1,
            "the processing server's answer, passed through"
        );
        let (status, renewed) = core_service
            .post(
                &format!("/transmissions/{id}/demand/heartbeat"),
                &json!({"playback_session_id": "s1", "output_id": "hls_main"}),
            )
            .await;
        assert_eq!(status, 200, "{renewed}");
        assert_eq!(renewed["renewed"], true);
        // Stills come from where the frames are; the offer is negotiated there (its answer, a
        // refusal here, is named).
        let still = core_service
            .http
            .get(core_service.url(&format!("/transmissions/{id}/still.jpg")))
            .send()
            .await
            .unwrap();
        assert_eq!(still.status(), 200);
        assert_eq!(still.headers()["content-type"], "image/jpeg");
        assert!(still.bytes().await.unwrap().starts_with(&[0xFF, 0xD8]));
        let (status, offer) = core_service
            .post(
                &format!("/transmissions/{id}/webrtc/offer"),
                &json!({"sdp": "v=0"}),
            )
            .await;
        assert_eq!(status, 502, "{offer}");
        assert!(
            offer["detail"].as_str().unwrap().starts_with(
                "Failed to negotiate WebRTC offer with processing server 'gpu': HTTP 409:"
            ),
            "{offer}"
        );
        // The core serves only what it hosts on its internal route.
        let (status, _) = core_service
            .get(&format!("/internal/transmissions/{id}/urls"))
            .await;
        assert_eq!(status, 409);

        drop(gpu);
        let (status, failed) = core_service.get(&format!("/transmissions/{id}/urls")).await;
        assert_eq!(status, 502);
        assert!(
            failed["detail"].as_str().unwrap().starts_with(
                "Failed to resolve URLs from processing server 'gpu': Connection failed"
            ),
            "{failed}"
        );
        let (status, failed) = core_service
            .get(&format!("/transmissions/{id}/still.jpg"))
            .await;
        assert_eq!(status, 502);
        assert!(
            failed["detail"]
                .as_str()
                .unwrap()
                .starts_with("Failed to resolve still image from processing server 'gpu':"),
            "{failed}"
        );
    }
}
