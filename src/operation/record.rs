//! Typed keys for what an operation keeps in its log: a stage's output ([`Artifact`]) and a
//! side effect that is done ([`Effect`]). A key names the record and the type it decodes to,
//! so every reader and writer of one record agree on its shape. A record that no longer
//! decodes is an error naming the key ([`Unreadable`]), never an absent value: an absent
//! effect runs again, and a side effect must not run twice because its record went bad.

use crate::model::OperationId;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// A stage output kept for resume (`stage.output` entries), decoding to `T`.
pub struct Artifact<T> {
    name: Cow<'static, str>,
    value: PhantomData<fn() -> T>,
}

/// A side effect that is done (`effect.done` entries), with its result of type `T`. The log
/// keys it `<operation>/<name>`: the idempotency key the forge writes carry.
pub struct Effect<T> {
    name: Cow<'static, str>,
    result: PhantomData<fn() -> T>,
}

macro_rules! key_impls {
    ($key:ident, $marker:ident) => {
        impl<T> $key<T> {
            /// A key with a fixed name, for a `const`.
            pub const fn new(name: &'static str) -> Self {
                $key {
                    name: Cow::Borrowed(name),
                    $marker: PhantomData,
                }
            }

            /// A key whose name has a variable part (a canary weight, a comment's name).
            pub fn named(name: String) -> Self {
                $key {
                    name: Cow::Owned(name),
                    $marker: PhantomData,
                }
            }

            pub fn name(&self) -> &str {
                &self.name
            }
        }

        impl<T> Clone for $key<T> {
            fn clone(&self) -> Self {
                $key {
                    name: self.name.clone(),
                    $marker: PhantomData,
                }
            }
        }

        impl<T> fmt::Debug for $key<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($key), self.name)
            }
        }
    };
}

key_impls!(Artifact, value);
key_impls!(Effect, result);

impl<T> Effect<T> {
    /// The idempotency key of this effect in operation `op`.
    pub fn key(&self, op: &OperationId) -> String {
        format!("{op}/{}", self.name)
    }
}

/// Which kind of record did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    StageOutput,
    Effect,
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordKind::StageOutput => "stage output",
            RecordKind::Effect => "effect",
        })
    }
}

/// A recorded stage output or effect that does not decode to its key's type. The operation
/// stops here: what the record stood for is neither redone nor guessed.
#[derive(Debug, thiserror::Error)]
#[error("operation {operation}: the recorded {kind} `{key}` cannot be read: {source}")]
pub struct Unreadable {
    pub operation: OperationId,
    pub kind: RecordKind,
    pub key: String,
    #[source]
    pub source: serde_json::Error,
}
