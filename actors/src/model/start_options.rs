//! Engine settings an installation sets from its environment (the Home Assistant add-on's
//! options, a systemd unit): applied to the stored settings at every start, so the option is in
//! force after a restart; a change made on the Settings page lasts until then.

use super::settings::StreamingSettings;

pub const EXPOSE_TO_LAN: &str = "TOPOSYNC_STREAMING_EXPOSE_TO_LAN";
pub const ICE_SERVERS: &str = "TOPOSYNC_STREAMING_WEBRTC_ICE_SERVERS";

/// What the environment sets; `None` leaves the stored value alone.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StartOptions {
    pub expose_to_lan: Option<bool>,
    /// STUN/TURN URLs (`stun:`, `turn:`, `turns:`), in order.
    pub ice_servers: Option<Vec<String>>,
}

impl StartOptions {
    /// Reads the variables through `var` (unset or blank: not set). A value that means nothing
    /// is an error naming the variable, so a typo stops the start instead of being ignored.
    pub fn read(var: impl Fn(&str) -> Option<String>) -> Result<StartOptions, String> {
        let set = |name: &str| {
            var(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let expose_to_lan = match set(EXPOSE_TO_LAN) {
            None => None,
            Some(value) => Some(match value.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => {
                    return Err(format!(
                        "{EXPOSE_TO_LAN} must be true or false, not '{value}'"
                    ));
                }
            }),
        };
        let ice_servers = match set(ICE_SERVERS) {
            None => None,
            Some(list) => Some(
                list.split(',')
                    .map(str::trim)
                    .filter(|url| !url.is_empty())
                    .map(|url| {
                        let lower = url.to_ascii_lowercase();
                        if ["stun:", "turn:", "turns:"]
                            .iter()
                            .any(|s| lower.starts_with(s))
                        {
                            Ok(url.to_string())
                        } else {
                            Err(format!(
                                "{ICE_SERVERS} lists '{url}', which is not a stun:, turn: or \
                                 turns: URL"
                            ))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(StartOptions {
            expose_to_lan,
            ice_servers,
        })
    }

    /// Applies the set options to `doc`; answers the variables that changed something.
    pub fn apply(&self, doc: &mut StreamingSettings) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let engine = &mut doc.engine;
        if let Some(expose) = self.expose_to_lan.filter(|e| *e != engine.expose_to_lan) {
            engine.expose_to_lan = expose;
            changed.push(EXPOSE_TO_LAN);
        }
        if let Some(servers) = self.ice_servers.as_ref() {
            if *servers != engine.webrtc_ice_servers {
                engine.webrtc_ice_servers = servers.clone();
                changed.push(ICE_SERVERS);
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<StartOptions, String> {
        StartOptions::read(|name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn unset_or_blank_variables_change_nothing() {
        assert_eq!(read(&[]).unwrap(), StartOptions::default());
        assert_eq!(
            read(&[(EXPOSE_TO_LAN, " "), (ICE_SERVERS, "")]).unwrap(),
            StartOptions::default()
        );
        let mut doc = StreamingSettings::default();
        assert!(StartOptions::default().apply(&mut doc).is_empty());
    }

    #[test]
    fn set_variables_are_applied_once() {
        let options = read(&[
            (EXPOSE_TO_LAN, "Yes"),
            (
                ICE_SERVERS,
                "stun:stun.example.org:3478, turns:relay.example.org",
            ),
        ])
        .unwrap();
        let mut doc = StreamingSettings::default();
        assert_eq!(options.apply(&mut doc), vec![EXPOSE_TO_LAN, ICE_SERVERS]);
        assert!(doc.engine.expose_to_lan);
        assert_eq!(
            doc.engine.webrtc_ice_servers,
            vec!["stun:stun.example.org:3478", "turns:relay.example.org"]
        );
        assert!(options.apply(&mut doc).is_empty(), "already in force");
        let off = read(&[(EXPOSE_TO_LAN, "0")]).unwrap();
        assert_eq!(off.apply(&mut doc), vec![EXPOSE_TO_LAN]);
        assert!(!doc.engine.expose_to_lan);
        assert_eq!(doc.engine.webrtc_ice_servers.len(), 2, "left alone");
    }

    #[test]
    fn meaningless_values_name_the_variable() {
        assert_eq!(
            read(&[(EXPOSE_TO_LAN, "maybe")]).unwrap_err(),
            "TOPOSYNC_STREAMING_EXPOSE_TO_LAN must be true or false, not 'maybe'"
        );
        let err = read(&[(ICE_SERVERS, "stun:ok,http://not-ice")]).unwrap_err();
        assert!(
            err.starts_with("TOPOSYNC_STREAMING_WEBRTC_ICE_SERVERS lists 'http://not-ice'"),
            "{err}"
        );
    }
}
