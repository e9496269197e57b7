//! The quorum rule, behind a trait so weighted or hierarchical quorums can come later.
//!
//! ZooKeeper's `QuorumVerifier` has two implementations: `QuorumMaj` (the default, a strict
//! majority of the voting members) and `QuorumHierarchical` (groups and weights). Election,
//! discovery and broadcast only ever ask "is this set of servers a quorum?" and "who votes?",
//! so that is all the trait holds.

use std::collections::BTreeSet;

use crate::types::ServerId;

/// Decides whether a set of servers forms a quorum of the voting members.
pub trait QuorumVerifier {
    /// The voting members (participants). Observers are not in this set.
    fn voters(&self) -> &BTreeSet<ServerId>;

    /// True when `ids` contains a quorum. Ids that are not voters never count.
    fn contains_quorum(&self, ids: &BTreeSet<ServerId>) -> bool;

    /// The weight of a server in elections. ZooKeeper's `totalOrderPredicate` refuses a
    /// candidate of weight 0 (only possible with hierarchical quorums, or for a server that
    /// is not a voter at all). Majority quorums weigh every voter 1.
    fn weight(&self, id: ServerId) -> u64 {
        u64::from(self.voters().contains(&id))
    }

    /// True when `id` is a voting member (ZooKeeper's `validVoter`).
    fn is_voter(&self, id: ServerId) -> bool {
        self.voters().contains(&id)
    }
}

/// A strict majority of the voting members, as ZooKeeper's `QuorumMaj`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Majority {
    voters: BTreeSet<ServerId>,
}

impl Majority {
    /// A majority quorum over `voters`.
    ///
    /// # Panics
    /// When `voters` is empty: an ensemble without voters cannot elect anything, and the
    /// configuration layer must reject it before it gets here.
    pub fn new(voters: impl IntoIterator<Item = ServerId>) -> Majority {
        let voters: BTreeSet<ServerId> = voters.into_iter().collect();
        assert!(!voters.is_empty(), "a quorum needs at least one voter");
        Majority { voters }
    }

    /// How many voters make a quorum: `n / 2 + 1`.
    pub fn quorum_size(&self) -> usize {
        self.voters.len() / 2 + 1
    }
}

impl QuorumVerifier for Majority {
    fn voters(&self) -> &BTreeSet<ServerId> {
        &self.voters
    }

    fn contains_quorum(&self, ids: &BTreeSet<ServerId>) -> bool {
        // QuorumMaj counts the set as given and trusts its callers to pass voters only; we
        // filter, so an observer's ack can never tip a quorum by accident.
        let voting = ids.iter().filter(|id| self.voters.contains(id)).count();
        voting >= self.quorum_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u64]) -> BTreeSet<ServerId> {
        v.iter().copied().map(ServerId).collect()
    }

    #[test]
    fn majority_of_three_and_five() {
        let q3 = Majority::new(ids(&[1, 2, 3]));
        assert!(!q3.contains_quorum(&ids(&[1])));
        assert!(q3.contains_quorum(&ids(&[1, 3])));
        let q5 = Majority::new(ids(&[1, 2, 3, 4, 5]));
        assert!(!q5.contains_quorum(&ids(&[1, 2])));
        assert!(q5.contains_quorum(&ids(&[2, 4, 5])));
    }

    #[test]
    fn even_ensembles_need_more_than_half() {
        let q4 = Majority::new(ids(&[1, 2, 3, 4]));
        assert!(!q4.contains_quorum(&ids(&[1, 2])));
        assert!(q4.contains_quorum(&ids(&[1, 2, 3])));
    }

    #[test]
    fn non_voters_never_count_and_weigh_nothing() {
        let q = Majority::new(ids(&[1, 2, 3]));
        assert!(!q.contains_quorum(&ids(&[1, 9, 10])));
        assert_eq!(q.weight(ServerId(9)), 0);
        assert_eq!(q.weight(ServerId(2)), 1);
        assert!(!q.is_voter(ServerId(9)));
    }
}
