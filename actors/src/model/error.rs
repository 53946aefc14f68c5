//! Errors of user input, shaped so the HTTP layer can answer FastAPI-compatible bodies
//! (`{"detail": [{"type", "loc", "msg", "input"}]}` or `{"detail": "<string>"}`).

use serde::Serialize;
use serde_json::Value;

/// One rule broken by one field. `loc` is the JSON path of the field, starting with where it
/// came from (`"body"`, `"query"`), so a client can point at the exact input.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub loc: Vec<Value>,
    pub msg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
}

impl FieldError {
    pub fn new(kind: &'static str, loc: &Loc, msg: impl Into<String>) -> Self {
        Self {
            kind,
            loc: loc.0.clone(),
            msg: msg.into(),
            input: None,
        }
    }

    pub fn with_input(mut self, input: impl Into<Value>) -> Self {
        self.input = Some(input.into());
        self
    }
}

/// Why a request was refused. Every variant is a 4xx; nothing here is a server fault.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelError {
    /// Shape, type, enum or range errors (422).
    Invalid(Vec<FieldError>),
    /// The input is valid alone but collides with what is stored (409).
    Conflict(FieldError),
    /// A 409 the original answers with a plain message (`{"detail": "<message>"}`).
    Refused(String),
    /// A request that cannot be carried out as asked (400), e.g. an id mismatch.
    BadRequest(String),
    /// The addressed entity does not exist (404).
    NotFound(String),
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let describe = |e: &FieldError| {
            let loc: Vec<String> = e
                .loc
                .iter()
                .map(|p| p.to_string().trim_matches('"').to_string())
                .collect();
            format!("{}: {}", loc.join("."), e.msg)
        };
        match self {
            ModelError::Invalid(errors) => {
                let parts: Vec<String> = errors.iter().map(describe).collect();
                write!(f, "{}", parts.join("; "))
            }
            ModelError::Conflict(error) => write!(f, "{}", describe(error)),
            ModelError::Refused(msg) => write!(f, "{msg}"),
            ModelError::BadRequest(msg) | ModelError::NotFound(msg) => write!(f, "{msg}"),
        }
    }
}

impl ModelError {
    pub fn invalid(loc: &Loc, msg: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new("value_error", loc, msg)])
    }
}

/// A JSON path under construction (`["body", "outputs", 0, "fps_limit"]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loc(pub Vec<Value>);

impl Loc {
    pub fn body() -> Self {
        Self(vec![Value::from("body")])
    }

    pub fn query() -> Self {
        Self(vec![Value::from("query")])
    }

    pub fn key(&self, key: &str) -> Self {
        let mut next = self.0.clone();
        next.push(Value::from(key));
        Self(next)
    }

    pub fn index(&self, index: usize) -> Self {
        let mut next = self.0.clone();
        next.push(Value::from(index));
        Self(next)
    }

    /// Appends a serde_path_to_error path (`outputs[0].protocol`) segment by segment.
    pub fn extend_from_serde(&self, path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment;
        let mut next = self.0.clone();
        for segment in path.iter() {
            match segment {
                Segment::Seq { index } => next.push(Value::from(*index)),
                Segment::Map { key } => next.push(Value::from(key.as_str())),
                Segment::Enum { variant } => next.push(Value::from(variant.as_str())),
                Segment::Unknown => {}
            }
        }
        Self(next)
    }
}

/// Collects every broken rule of a document before answering, so a client sees all of them at once.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    pub fn push(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.0.push(FieldError::new("value_error", loc, msg));
    }

    pub fn range_i64(&mut self, loc: &Loc, name: &str, value: i64, min: i64, max: i64) {
        if !(min..=max).contains(&value) {
            self.0.push(
                FieldError::new(
                    "value_error",
                    loc,
                    format!("{name} must be between {min} and {max}"),
                )
                .with_input(value),
            );
        }
    }

    pub fn range_f64(&mut self, loc: &Loc, name: &str, value: f64, min: f64, max: f64) {
        if !value.is_finite() || value < min || value > max {
            self.0.push(
                FieldError::new(
                    "value_error",
                    loc,
                    format!("{name} must be between {min} and {max}"),
                )
                .with_input(value),
            );
        }
    }

    pub fn into_result(self) -> Result<(), ModelError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ModelError::Invalid(self.0))
        }
    }
}

/// Deserializes `value` into `T`, reporting the failing field's path under `loc`.
pub fn from_value<T: serde::de::DeserializeOwned>(
    value: Value,
    loc: &Loc,
) -> Result<T, ModelError> {
    serde_path_to_error::deserialize(super::strict::Strict(&value)).map_err(|err| {
        let field_loc = loc.extend_from_serde(err.path());
        let inner = err.into_inner().to_string();
        let kind = if inner.starts_with("missing field") {
            "missing"
        } else if inner.starts_with("unknown field") {
            "extra_forbidden"
        } else {
            "type_error"
        };
        let mut field_loc = field_loc;
        // serde reports a missing field at its parent; name the field itself.
        if kind == "missing" {
            if let Some(name) = backticked(&inner) {
                field_loc = field_loc.key(name);
            }
        }
        ModelError::Invalid(vec![FieldError::new(kind, &field_loc, inner)])
    })
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(&message[start..end])
}
