//! The bounded FIFO used everywhere a package waits: the startup queue, connection
//! out-queues and channel in-queues. Full queues discard by policy and count what they drop.

use std::collections::VecDeque;

use crate::error::{Error, Result};
use crate::package::PackageRef;

/// What to drop when a queue is full (the original's `"old"` / `"new"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discard {
    /// Drop the oldest queued package to make room (the default).
    Old,
    /// Drop the incoming package.
    New,
    /// Drop nothing (ours, not in the original): a full channel queue pauses reading from the
    /// network so TCP back-pressure reaches the publisher, whose sends wait up to the send
    /// timeout and then fail with `Timeout`. Loss-free pub/sub.
    Block,
}

/// Queue limits: at most `max_packages` and at most `max_bytes` of bodies per queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueParams {
    pub max_packages: usize,
    pub max_bytes: usize,
    pub discard: Discard,
}

impl Default for QueueParams {
    fn default() -> Self {
        // The original's (10000, "old"), plus a byte bound so memory stays bounded for big messages.
        QueueParams {
            max_packages: 10_000,
            max_bytes: 256 << 20,
            discard: Discard::Old,
        }
    }
}

impl QueueParams {
    pub fn validate(&self) -> Result<()> {
        if self.max_packages == 0 {
            return Err(Error::invalid("queue size must be at least 1"));
        }
        if self.max_bytes == 0 {
            return Err(Error::invalid("queue byte limit must be at least 1"));
        }
        Ok(())
    }
}

/// The outcome of a push: whether the package went in, and how many old ones were evicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pushed {
    pub accepted: bool,
    pub evicted: usize,
}

impl Pushed {
    /// Packages lost by this push (the incoming one or the evicted ones).
    pub fn dropped(&self) -> usize {
        self.evicted + usize::from(!self.accepted)
    }
}

/// A queue the discard policy applies to.
pub(crate) trait Bounded {
    fn limits(&self) -> QueueParams;
    /// Packages queued.
    fn packages(&self) -> usize;
    /// Bytes queued (what counts against `max_bytes`).
    fn queued_bytes(&self) -> usize;
    /// Drop the oldest package (only called when not empty).
    fn drop_oldest(&mut self);
}

/// Queue a package costing `cost` with `add`, after applying the discard policy: a full queue
/// evicts its oldest packages (`Old`, several small ones may go for one big one), refuses the
/// incoming one (`New`), or takes it anyway (`Block`: its senders wait before pushing, which
/// bounds it).
#[inline]
pub(crate) fn admit<Q: Bounded>(queue: &mut Q, cost: usize, add: impl FnOnce(&mut Q)) -> Pushed {
    let params = queue.limits();
    let full = |q: &Q| {
        q.packages() > 0
            && (q.packages() >= params.max_packages || q.queued_bytes() + cost > params.max_bytes)
    };
    let mut evicted = 0;
    if full(queue) {
        match params.discard {
            Discard::Block => {}
            Discard::New => {
                return Pushed {
                    accepted: false,
                    evicted: 0,
                }
            }
            Discard::Old => {
                while full(queue) {
                    queue.drop_oldest();
                    evicted += 1;
                }
            }
        }
    }
    add(queue);
    Pushed {
        accepted: true,
        evicted,
    }
}

/// A FIFO of packages with limits. Not synchronised: owners wrap it in their own lock.
#[derive(Debug)]
pub struct PackageQueue {
    items: VecDeque<PackageRef>,
    bytes: usize,
    params: QueueParams,
}

impl PackageQueue {
    pub fn new(params: QueueParams) -> PackageQueue {
        PackageQueue {
            items: VecDeque::new(),
            bytes: 0,
            params,
        }
    }

    pub fn set_params(&mut self, params: QueueParams) {
        self.params = params;
    }

    /// Append, applying the discard policy (`admit`).
    pub fn push(&mut self, pkg: PackageRef) -> Pushed {
        let cost = pkg.cost();
        admit(self, cost, |q| {
            q.bytes += cost;
            q.items.push_back(pkg);
        })
    }

    /// Append without applying limits (moving the startup queue into a connection, docs/protocol.md §6.4).
    pub fn push_unbounded(&mut self, pkg: PackageRef) {
        self.bytes += pkg.cost();
        self.items.push_back(pkg);
    }

    pub fn pop(&mut self) -> Option<PackageRef> {
        let pkg = self.items.pop_front()?;
        self.bytes -= pkg.cost();
        Some(pkg)
    }

    /// The `i`-th oldest package.
    pub fn get(&self, i: usize) -> Option<&PackageRef> {
        self.items.get(i)
    }

    pub fn front(&self) -> Option<&PackageRef> {
        self.items.front()
    }

    pub fn back(&self) -> Option<&PackageRef> {
        self.items.back()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// At or above a limit.
    pub fn is_full(&self) -> bool {
        self.items.len() >= self.params.max_packages || self.bytes >= self.params.max_bytes
    }

    pub fn params(&self) -> QueueParams {
        self.params
    }

    pub fn clear(&mut self) -> usize {
        let n = self.items.len();
        self.items.clear();
        self.bytes = 0;
        n
    }

    /// Take everything, in order.
    pub fn drain_all(&mut self) -> VecDeque<PackageRef> {
        self.bytes = 0;
        std::mem::take(&mut self.items)
    }
}

impl Bounded for PackageQueue {
    fn limits(&self) -> QueueParams {
        self.params
    }

    fn packages(&self) -> usize {
        self.items.len()
    }

    fn queued_bytes(&self) -> usize {
        self.bytes
    }

    fn drop_oldest(&mut self) {
        self.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::Package;
    use crate::protocol::header::Header;

    fn pkg(seq: u64) -> PackageRef {
        let h = Header {
            slot: 8,
            source_seq: seq,
            ..Header::default()
        };
        PackageRef::new(Package::new(&h, format!("m{seq}").into_bytes()))
    }

    fn seqs(q: &mut PackageQueue) -> Vec<u64> {
        q.drain_all().iter().map(|p| p.source_seq()).collect()
    }

    #[test]
    fn discard_new_keeps_first() {
        // docs/protocol.md §6.8: after 8 sends with (5, "new") the queue holds m0..m4.
        let mut q = PackageQueue::new(QueueParams {
            max_packages: 5,
            discard: Discard::New,
            ..Default::default()
        });
        let dropped: usize = (1..=8).map(|s| q.push(pkg(s)).dropped()).sum();
        assert_eq!(dropped, 3);
        assert_eq!(seqs(&mut q), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn discard_old_keeps_last() {
        let mut q = PackageQueue::new(QueueParams {
            max_packages: 5,
            discard: Discard::Old,
            ..Default::default()
        });
        let dropped: usize = (1..=8).map(|s| q.push(pkg(s)).dropped()).sum();
        assert_eq!(dropped, 3);
        assert_eq!(seqs(&mut q), vec![4, 5, 6, 7, 8]);
    }

    #[test]
    fn byte_limit_applies() {
        let cost = pkg(1).cost();
        let mut q = PackageQueue::new(QueueParams {
            max_packages: 100,
            max_bytes: cost * 2,
            discard: Discard::Old,
        });
        for s in 1..=4 {
            q.push(pkg(s));
        }
        assert_eq!(q.bytes(), cost * 2);
        assert_eq!(seqs(&mut q), vec![3, 4]);
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn oversized_single_package_is_kept_when_empty() {
        // A lone package bigger than max_bytes still goes through: limits bound queues, not
        // message size (that is the context's max message size).
        let mut q = PackageQueue::new(QueueParams {
            max_packages: 10,
            max_bytes: 1,
            discard: Discard::New,
        });
        assert_eq!(
            q.push(pkg(1)),
            Pushed {
                accepted: true,
                evicted: 0
            }
        );
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn zero_limits_are_invalid() {
        assert!(QueueParams {
            max_packages: 0,
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(QueueParams::default().validate().is_ok());
    }
}
