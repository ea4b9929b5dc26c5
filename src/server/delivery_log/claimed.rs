//! Replicas behind one webhook URL claim each delivery they act on before they record it: a
//! replica hands every delivery its log holds to its workers when it starts again, so it
//! records only what it holds. The log's thread claims a batch's deliveries together, just
//! before it writes them: one round trip a batch, and no wait of its own for a request.

use super::seen::{self, Seen};
use super::{locked, DeliveryLogError, Recorded, Request};
use std::sync::Mutex;

/// Claims delivery ids for this replica (in Redis, `server::claims`).
pub trait BatchClaims: Send + Sync {
    /// For each of `ids`, whether this replica holds it (claimed now or before); `Err` says
    /// why nothing could be claimed. Blocking: the log's thread waits for it.
    fn claim(&self, ids: &[&str]) -> Result<Vec<bool>, String>;
}

/// Claims the requests of `batch` that ask for it and that the log has not seen (a delivery
/// the log holds is this replica's already), and takes out of the batch, answered, those
/// another replica holds and those whose claim failed.
pub(super) fn claim_batch(claims: &dyn BatchClaims, seen: &Mutex<Seen>, batch: &mut Vec<Request>) {
    let asking: Vec<usize> = {
        let seen = locked(seen);
        (0..batch.len())
            .filter(|&i| batch[i].claim && !seen.contains(seen::key(&batch[i].id)))
            .collect()
    };
    if asking.is_empty() {
        return;
    }
    let ids: Vec<&str> = asking.iter().map(|&i| batch[i].id.as_str()).collect();
    let mut answers: Vec<Option<Result<Recorded, DeliveryLogError>>> =
        (0..batch.len()).map(|_| None).collect();
    match claims.claim(&ids) {
        Ok(held) if held.len() == ids.len() => {
            for (&i, held) in asking.iter().zip(held) {
                if !held {
                    answers[i] = Some(Ok(Recorded::HeldElsewhere));
                }
            }
        }
        Ok(held) => {
            let reason = format!("{} answers to {} claims", held.len(), ids.len());
            for &i in &asking {
                answers[i] = Some(Err(DeliveryLogError::Claim(reason.clone())));
            }
        }
        Err(reason) => {
            for &i in &asking {
                answers[i] = Some(Err(DeliveryLogError::Claim(reason.clone())));
            }
        }
    }
    let requests = std::mem::take(batch);
    for (request, answer) in requests.into_iter().zip(answers) {
        match answer {
            Some(answer) => {
                let _ = request.reply.send(answer);
            }
            None => batch.push(request),
        }
    }
}
