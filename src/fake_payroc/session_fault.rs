//! The session endpoint's persistent faults: answers from a Payroc gone wrong, which the broker
//! must refuse rather than hand to a page.

use serde_json::Value;

use super::oversized::Oversize;
use super::problem::{Problem, problem_for_status};

/// How the session endpoint misbehaves; it keeps doing so until set back to `None`. Every
/// fault but `LongDetail` spoils only the answer: the session is checked, created and stored
/// as usual ("Payroc created it, then answered nonsense").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SessionFault {
    /// Behave normally.
    #[default]
    None,
    /// A 201 whose JSON body never ends (chunked, no length).
    EndlessBody,
    /// A 201 declaring a 300 MB `Content-Length` (and sending all of it, if read).
    HugeBody,
    /// A 201 naming another processing terminal than the one in the path.
    WrongTerminal,
    /// A 201 whose `token` is this many characters long.
    LongToken(usize),
    /// Before any other check, with nothing stored: `status` with the problem the fake answers
    /// for it, its `detail` this many characters long. An invalid status becomes 500.
    LongDetail { status: u16, chars: usize },
}

/// A 201's body as a fault leaves it.
pub(super) enum CreatedBody {
    Json(Value),
    Oversized(Oversize),
}

/// How an oversized session answer starts; whitespace padding follows.
pub(super) const SESSION_PREFIX: &str = r#"{"processingTerminalId": "1234001", "token": "#;

impl SessionFault {
    /// The problem a `LongDetail` fault answers with, before any check.
    pub(super) fn problem(&self) -> Option<Problem> {
        let Self::LongDetail { status, chars } = self else {
            return None;
        };
        Some(problem_for_status(*status).with("detail", "x".repeat(*chars)))
    }

    /// Payroc's 201 `answer` as this fault spoils it; `terminals` are the fake's own, one of
    /// which stands in for "another terminal".
    pub(super) fn created_body(&self, mut answer: Value, terminals: &[String]) -> CreatedBody {
        match self {
            Self::None | Self::LongDetail { .. } => {}
            Self::EndlessBody => return CreatedBody::Oversized(Oversize::Endless),
            Self::HugeBody => return CreatedBody::Oversized(Oversize::Huge),
            Self::WrongTerminal => {
                let asked = answer["processingTerminalId"].as_str().unwrap_or_default();
                let other = terminals
                    .iter()
                    .find(|t| *t != asked)
                    .cloned()
                    .unwrap_or_else(|| format!("{asked}9"));
                answer["processingTerminalId"] = Value::from(other);
            }
            Self::LongToken(chars) => answer["token"] = Value::from("a".repeat(*chars)),
        }
        CreatedBody::Json(answer)
    }
}
