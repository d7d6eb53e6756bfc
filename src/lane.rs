//! A connection's bulk lane: publications waiting for the reactor, under the context's queue
//! limits and discard policy. Small publications a sender copies arrive as bytes and are
//! encoded straight into the lane's current run (`wire::Run`); packages (forwarded ones, big
//! or zero-copy bodies, what the startup queue held) are queued as they are. The lane keeps
//! queueing order across both, and hands the reactor whole runs.

use std::collections::VecDeque;

use crate::package::PackageRef;
use crate::protocol::header::{Header, HEADER_SIZE};
use crate::queue::{admit, Bounded, Pushed, QueueParams};
use crate::transport::wire::{Chunk, Run};

pub(crate) struct BulkLane {
    /// Queueing order: a package, or None for the next of `runs`. Eight bytes an entry: a
    /// lane queues thousands, and entries the size of a chunk (48 bytes) raised the
    /// publisher's peak RSS in fan-out to 64 peers from 12 to 29 MiB.
    order: VecDeque<Option<PackageRef>>,
    runs: VecDeque<Run>,
    packages: usize,
    bytes: usize,
    params: QueueParams,
    /// The last run may take more packages (not once something was queued after it in the
    /// other lane: a run is written as a whole).
    open: bool,
}

impl BulkLane {
    pub(crate) fn new(params: QueueParams) -> BulkLane {
        BulkLane {
            order: VecDeque::new(),
            runs: VecDeque::new(),
            packages: 0,
            bytes: 0,
            params,
            open: false,
        }
    }

    /// Queue a package, applying the discard policy.
    pub(crate) fn push(&mut self, pkg: PackageRef) -> Pushed {
        let cost = pkg.cost();
        self.admit(cost, |lane| lane.order.push_back(Some(pkg)))
    }

    /// Queue a copy of a small publication (`header`, body `data`), applying the discard
    /// policy: encoded at the end of the current run.
    pub(crate) fn push_copy(&mut self, header: &Header, data: &[u8]) -> Pushed {
        let cost = HEADER_SIZE + data.len();
        self.admit(cost, |lane| {
            let last_is_run = matches!(lane.order.back(), Some(None));
            match lane.runs.back_mut() {
                Some(run) if last_is_run && lane.open && run.fits(data.len()) => {
                    run.push(header, data)
                }
                _ => {
                    let mut run = Run::default();
                    run.push(header, data);
                    lane.runs.push_back(run);
                    lane.order.push_back(None);
                    lane.open = true;
                }
            }
        })
    }

    /// Queue a package beyond the limits (what the startup queue held).
    pub(crate) fn push_unbounded(&mut self, pkg: PackageRef) {
        self.packages += 1;
        self.bytes += pkg.cost();
        self.order.push_back(Some(pkg));
    }

    /// `queue::admit`, counting the package in.
    fn admit(&mut self, cost: usize, add: impl FnOnce(&mut BulkLane)) -> Pushed {
        admit(self, cost, |lane| {
            add(lane);
            lane.packages += 1;
            lane.bytes += cost;
        })
    }

    /// Something was queued in the other lane: later publications start a new run.
    pub(crate) fn seal(&mut self) {
        self.open = false;
    }

    /// Take the oldest chunk (a whole run, or one package).
    pub(crate) fn pop(&mut self) -> Option<Chunk> {
        let chunk = match self.order.pop_front()? {
            Some(pkg) => Chunk::Package(pkg),
            None => Chunk::Run(self.runs.pop_front().expect("one run per marker")),
        };
        self.packages -= chunk.count();
        self.bytes -= chunk.cost();
        Some(chunk)
    }

    /// Drop everything queued; returns the packages dropped.
    pub(crate) fn clear(&mut self) -> usize {
        let dropped = self.packages;
        while self.pop().is_some() {}
        dropped
    }

    /// Packages queued.
    pub(crate) fn len(&self) -> usize {
        self.packages
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.packages == 0
    }

    /// Bytes queued, headers included.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// At or above a limit.
    pub(crate) fn is_full(&self) -> bool {
        self.packages >= self.params.max_packages || self.bytes >= self.params.max_bytes
    }
}

impl Bounded for BulkLane {
    fn limits(&self) -> QueueParams {
        self.params
    }

    fn packages(&self) -> usize {
        self.packages
    }

    fn queued_bytes(&self) -> usize {
        self.bytes
    }

    fn drop_oldest(&mut self) {
        match self.order.front() {
            None => {}
            Some(Some(_)) => {
                self.pop();
            }
            Some(None) => {
                let run = self.runs.front_mut().expect("one run per marker");
                self.bytes -= run.evict_oldest();
                self.packages -= 1;
                if run.count() == 0 {
                    self.order.pop_front();
                    self.runs.pop_front();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::testing::{self, header};
    use crate::queue::Discard;

    fn lane(max_packages: usize, discard: Discard) -> BulkLane {
        BulkLane::new(QueueParams {
            max_packages,
            max_bytes: 1 << 20,
            discard,
        })
    }

    fn package(seq: u64) -> PackageRef {
        testing::package(seq, b"ppp")
    }

    /// Sequence numbers in the order the lane hands them out, decoding the runs.
    fn drain(lane: &mut BulkLane) -> Vec<u64> {
        let chunks: Vec<Chunk> = std::iter::from_fn(|| lane.pop()).collect();
        assert_eq!((lane.len(), lane.bytes()), (0, 0));
        crate::transport::wire::chunk_seqs(&chunks)
    }

    #[test]
    fn copies_and_packages_keep_their_order() {
        let mut l = lane(100, Discard::Old);
        l.push_copy(&header(1), b"one");
        l.push_copy(&header(2), b"two");
        l.push(package(3));
        l.push_copy(&header(4), b"four");
        l.seal();
        l.push_copy(&header(5), b"five");
        assert_eq!(l.len(), 5);
        assert_eq!(l.bytes(), 5 * HEADER_SIZE + 3 + 3 + 3 + 4 + 4);
        // Runs: [1, 2], package 3, [4], [5] (sealed after 4).
        assert_eq!((l.order.len(), l.runs.len()), (4, 3));
        assert_eq!(drain(&mut l), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn old_evicts_from_runs_one_package_at_a_time() {
        let mut l = lane(3, Discard::Old);
        for seq in 1..=3 {
            l.push_copy(&header(seq), b"x");
        }
        assert_eq!(l.push_copy(&header(4), b"y").evicted, 1);
        l.push(package(5));
        assert_eq!(l.push_copy(&header(6), b"z").evicted, 1);
        assert_eq!(l.len(), 3);
        assert_eq!(drain(&mut l), [4, 5, 6]);
        // A run evicted to its end goes; the lane goes on with a new one.
        for seq in 7..=12 {
            l.push_copy(&header(seq), b"w");
        }
        assert_eq!(drain(&mut l), [10, 11, 12]);
    }

    #[test]
    fn new_refuses_and_block_keeps() {
        let mut l = lane(2, Discard::New);
        l.push_copy(&header(1), b"a");
        l.push_copy(&header(2), b"b");
        assert!(!l.push_copy(&header(3), b"c").accepted);
        assert!(!l.push(package(4)).accepted);
        assert_eq!(drain(&mut l), [1, 2]);

        let mut l = lane(2, Discard::Block);
        for seq in 1..=4 {
            assert!(l.push_copy(&header(seq), b"d").accepted);
        }
        assert!(l.is_full());
        assert_eq!(drain(&mut l), [1, 2, 3, 4]);
    }

    #[test]
    fn a_run_holds_at_most_its_capacity() {
        let mut l = lane(100_000, Discard::Old);
        let body = vec![b'q'; 2000];
        for seq in 0..100 {
            l.push_copy(&header(seq), &body);
        }
        assert!(l.runs.iter().all(|r| r.len() <= Run::CAPACITY));
        assert!(l.runs.len() >= 100 * (HEADER_SIZE + 2000) / Run::CAPACITY);
        assert_eq!(drain(&mut l), (0..100).collect::<Vec<_>>());
        assert_eq!(l.clear(), 0);
    }
}
