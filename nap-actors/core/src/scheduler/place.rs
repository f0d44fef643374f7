//! The placement pass: hosts filtered and ranked per replica, replicas kept where they run,
//! colocated services put beside their target.

use super::{
    Candidate, HostRejection, HostSpec, NormalizedPort, PinRejection, Placement, PlacementPolicy,
    PublishedPort, RejectionReason, Resources, ScheduleError, ScheduleInput, ServiceDemand,
    StatePin, Strategy,
};
use std::collections::{BTreeMap, BTreeSet};

/// A service with its ports normalized and its colocation resolved.
pub(super) struct PreparedService<'a> {
    /// The service as given.
    demand: &'a ServiceDemand,
    /// Its published ports, in the order of `demand.published_ports`.
    ports: Vec<NormalizedPort>,
    /// Its strategy, the project's default filled in.
    strategy: Strategy,
    /// Index of the service it colocates with.
    colocate_with: Option<usize>,
}

/// One published port taken on a host.
pub(super) struct PortUse {
    /// The index of the service holding it.
    service: usize,
    /// The replica holding it.
    replica: u32,
    /// Index in the service's `ports`.
    port_index: usize,
}

/// What is placed on one host so far.
#[derive(Default)]
pub(super) struct HostState {
    /// Containers of the project placed on the host.
    containers: u64,
    /// The sum of their reservations.
    reserved: Resources,
    /// Taken ports by port number.
    ports: BTreeMap<u16, Vec<PortUse>>,
}

/// A host's rank for one service: the smallest key is the best host. The last
/// field is the host's index, so ties go to the first name.
pub(super) type RankKey = (u64, u64, usize);

/// The target replica a colocated replica follows.
pub(super) struct ColocationTarget {
    /// The target service's index.
    target: usize,
    /// The target's replica number.
    target_replica: u32,
    /// The target replica's host index, once placed.
    host: Option<usize>,
}

/// The scheduler's working state.
pub(super) struct Scheduler<'a> {
    /// Hosts sorted by name; a host is named by its index here.
    hosts: Vec<&'a HostSpec>,
    /// Services sorted by name; a service is named by its index here.
    services: Vec<PreparedService<'a>>,
    /// Services in placement order: colocation targets first, then by name.
    pub(super) order: Vec<usize>,
    /// What is placed on each host, by host index.
    host_states: Vec<HostState>,
    /// Per service: replica number to host index.
    assigned: Vec<BTreeMap<u32, usize>>,
}

impl<'a> Scheduler<'a> {
    /// Sorts and validates the input.
    pub(super) fn new(input: &ScheduleInput<'a>) -> Result<Scheduler<'a>, ScheduleError> {
        let mut hosts: Vec<&HostSpec> = input.hosts.iter().collect();
        hosts.sort_by(|left, right| left.name.cmp(&right.name));
        if let Some(pair) = hosts.windows(2).find(|pair| pair[0].name == pair[1].name) {
            return Err(ScheduleError::DuplicateHost {
                host: pair[0].name.clone(),
            });
        }

        let mut demands: Vec<&ServiceDemand> = input.services.iter().collect();
        demands.sort_by(|left, right| left.name.cmp(&right.name));
        if let Some(pair) = demands.windows(2).find(|pair| pair[0].name == pair[1].name) {
            return Err(ScheduleError::DuplicateService {
                service: pair[0].name.clone(),
            });
        }

        let mut services = Vec::with_capacity(demands.len());
        for demand in &demands {
            let colocate_with = match &demand.colocate_with {
                None => None,
                Some(target) => match demands.binary_search_by(|other| other.name.cmp(target)) {
                    Ok(index) => Some(index),
                    Err(_) => {
                        return Err(ScheduleError::UnknownColocationTarget {
                            service: demand.name.clone(),
                            target: target.clone(),
                        });
                    }
                },
            };
            let ports: Vec<NormalizedPort> = demand
                .published_ports
                .iter()
                .map(PublishedPort::normalized)
                .collect();
            for (index, port) in ports.iter().enumerate() {
                if ports[..index]
                    .iter()
                    .any(|earlier| earlier.collides_with(port))
                {
                    return Err(ScheduleError::DuplicatePublishedPort {
                        service: demand.name.clone(),
                        port: demand.published_ports[index].clone(),
                    });
                }
            }
            services.push(PreparedService {
                demand,
                ports,
                strategy: demand.strategy.unwrap_or(input.default_strategy),
                colocate_with,
            });
        }

        let order = placement_order(&services)?;

        if hosts.is_empty() && services.iter().any(|service| service.demand.replicas > 0) {
            return Err(ScheduleError::NoHosts);
        }

        let host_states = hosts.iter().map(|_| HostState::default()).collect();
        let assigned = services.iter().map(|_| BTreeMap::new()).collect();
        Ok(Scheduler {
            hosts,
            services,
            order,
            host_states,
            assigned,
        })
    }

    /// The index of the host named `name`.
    fn host_index(&self, name: &str) -> Option<usize> {
        self.hosts
            .binary_search_by(|host| host.name.as_str().cmp(name))
            .ok()
    }

    /// The index of the service named `name`.
    fn service_index(&self, name: &str) -> Option<usize> {
        self.services
            .binary_search_by(|service| service.demand.name.as_str().cmp(name))
            .ok()
    }

    /// The first constraint of `service` that fails on `host`.
    fn constraint_rejection(&self, host: usize, service: usize) -> Option<RejectionReason> {
        let host_spec = self.hosts[host];
        self.services[service]
            .demand
            .constraints
            .iter()
            .find(|constraint| !constraint.is_satisfied_by(host_spec))
            .map(|constraint| RejectionReason::ConstraintNotSatisfied {
                constraint: constraint.clone(),
                actual: constraint.describe_actual(host_spec),
            })
    }

    /// The first port of `service` that collides with one taken on `host`.
    fn port_rejection(&self, host: usize, service: usize) -> Option<RejectionReason> {
        let prepared = &self.services[service];
        let taken_ports = &self.host_states[host].ports;
        for (port_index, port) in prepared.ports.iter().enumerate() {
            let Some(uses) = taken_ports.get(&port.port) else {
                continue;
            };
            for taken in uses {
                let holder = &self.services[taken.service];
                let collides = holder
                    .ports
                    .get(taken.port_index)
                    .is_some_and(|other| other.collides_with(port));
                if collides {
                    return Some(RejectionReason::PortInUse {
                        port: prepared.demand.published_ports[port_index].clone(),
                        used_by: format!("{}-{}", holder.demand.name, taken.replica),
                    });
                }
            }
        }
        None
    }

    /// Whether the reservation of `service` fits in what `host` has left.
    fn resource_rejection(&self, host: usize, service: usize) -> Option<RejectionReason> {
        let capacity = self.hosts[host].capacity?;
        let needed = self.services[service].demand.reservation;
        let reserved = self.host_states[host].reserved;
        if capacity.nano_cpus > 0 && needed.nano_cpus > 0 {
            let free = capacity.nano_cpus.saturating_sub(reserved.nano_cpus);
            if needed.nano_cpus > free {
                return Some(RejectionReason::NotEnoughCpu {
                    needed_nano_cpus: needed.nano_cpus,
                    free_nano_cpus: free,
                });
            }
        }
        if capacity.memory_bytes > 0 && needed.memory_bytes > 0 {
            let free = capacity.memory_bytes.saturating_sub(reserved.memory_bytes);
            if needed.memory_bytes > free {
                return Some(RejectionReason::NotEnoughMemory {
                    needed_bytes: needed.memory_bytes,
                    free_bytes: free,
                });
            }
        }
        None
    }

    /// The filters that change as replicas are placed: ports and resources.
    fn dynamic_rejection(&self, host: usize, service: usize) -> Option<RejectionReason> {
        self.port_rejection(host, service)
            .or_else(|| self.resource_rejection(host, service))
    }

    /// All filters, in the order constraints, ports, resources.
    fn rejection(&self, host: usize, service: usize) -> Option<RejectionReason> {
        self.constraint_rejection(host, service)
            .or_else(|| self.dynamic_rejection(host, service))
    }

    /// Why each host rejects a replica of `service`, for the error message.
    fn all_rejections(&self, service: usize) -> Vec<HostRejection> {
        (0..self.hosts.len())
            .filter_map(|host| {
                self.rejection(host, service).map(|reason| HostRejection {
                    host: self.hosts[host].name.clone(),
                    reason,
                })
            })
            .collect()
    }

    /// Records `replica` of `service` on `host`.
    fn assign(&mut self, service: usize, replica: u32, host: usize) {
        let prepared = &self.services[service];
        let state = &mut self.host_states[host];
        state.containers += 1;
        state.reserved = state.reserved.saturating_add(prepared.demand.reservation);
        for (port_index, port) in prepared.ports.iter().enumerate() {
            state.ports.entry(port.port).or_default().push(PortUse {
                service,
                replica,
                port_index,
            });
        }
        self.assigned[service].insert(replica, host);
    }

    /// The replica of `service`'s colocation target that replica `replica`
    /// follows, and its host if placed. `None` when `service` colocates with
    /// nothing.
    fn colocation_host(
        &self,
        service: usize,
        replica: u32,
    ) -> Option<Result<ColocationTarget, ScheduleError>> {
        let target = self.services[service].colocate_with?;
        let target_replicas = self.services[target].demand.replicas;
        if target_replicas == 0 {
            return Some(Err(ScheduleError::ColocationTargetWithoutReplicas {
                service: self.services[service].demand.name.clone(),
                target: self.services[target].demand.name.clone(),
            }));
        }
        let target_replica = (replica - 1) % target_replicas + 1;
        let host = self.assigned[target].get(&target_replica).copied();
        Some(Ok(ColocationTarget {
            target,
            target_replica,
            host,
        }))
    }

    /// Keeps the existing placements that still fit (see [`schedule`]).
    pub(super) fn keep_existing(&mut self, existing: &[Placement]) {
        let mut observed: Vec<Vec<(u32, usize)>> =
            self.services.iter().map(|_| Vec::new()).collect();
        for placement in existing {
            let (Some(service), Some(host)) = (
                self.service_index(&placement.service),
                self.host_index(&placement.host),
            ) else {
                continue;
            };
            if placement.replica >= 1 && placement.replica <= self.services[service].demand.replicas
            {
                observed[service].push((placement.replica, host));
            }
        }
        for position in 0..self.order.len() {
            let service = self.order[position];
            let mut candidates = std::mem::take(&mut observed[service]);
            // Sorted so that, when a replica was observed on several hosts,
            // the first host by name that still fits keeps it.
            candidates.sort_unstable();
            for (replica, host) in candidates {
                if self.assigned[service].contains_key(&replica) {
                    continue;
                }
                let pinned_elsewhere = self.services[service]
                    .demand
                    .state_pins
                    .get(&replica)
                    .is_some_and(|pin| pin.host != self.hosts[host].name);
                if pinned_elsewhere {
                    continue;
                }
                if let Some(colocation) = self.colocation_host(service, replica) {
                    match colocation {
                        Ok(ColocationTarget {
                            host: Some(target_host),
                            ..
                        }) if target_host == host => {}
                        _ => continue,
                    }
                }
                if self.constraint_rejection(host, service).is_some()
                    || self.port_rejection(host, service).is_some()
                {
                    continue;
                }
                self.assign(service, replica, host);
            }
        }
    }

    /// Places every pinned replica not kept, of the services that colocate with none, on
    /// the host that holds its state (see [`schedule`]).
    pub(super) fn place_pinned(&mut self) -> Result<(), ScheduleError> {
        for position in 0..self.order.len() {
            let service = self.order[position];
            if self.services[service].colocate_with.is_some() {
                continue;
            }
            let demand = self.services[service].demand;
            for (&replica, pin) in &demand.state_pins {
                if replica == 0
                    || replica > demand.replicas
                    || self.assigned[service].contains_key(&replica)
                {
                    continue;
                }
                let Some(host) = self.host_index(&pin.host) else {
                    let reason = PinRejection::NotInInventory;
                    return Err(self.state_would_move(service, replica, pin, reason));
                };
                if let Some(reason) = self.rejection(host, service) {
                    let reason = PinRejection::Rejected(reason);
                    return Err(self.state_would_move(service, replica, pin, reason));
                }
                self.assign(service, replica, host);
            }
        }
        Ok(())
    }

    /// The refusal of a pinned replica whose host cannot take it, with the best host it
    /// would go to otherwise.
    fn state_would_move(
        &self,
        service: usize,
        replica: u32,
        pin: &StatePin,
        reason: PinRejection,
    ) -> ScheduleError {
        let mut replicas_per_host = vec![0_u64; self.hosts.len()];
        for &host in self.assigned[service].values() {
            replicas_per_host[host] += 1;
        }
        let would_go_to = (0..self.hosts.len())
            .filter(|&host| self.hosts[host].name != pin.host)
            .filter(|&host| self.rejection(host, service).is_none())
            .min_by_key(|&host| self.rank_key(host, service, replicas_per_host[host]))
            .map(|host| self.hosts[host].name.clone());
        ScheduleError::StateWouldMove {
            service: self.services[service].demand.name.clone(),
            replica,
            state: pin.state.clone(),
            holder: pin.host.clone(),
            reason: Box::new(reason),
            would_go_to,
        }
    }

    /// The rank of `host` for `service`; smaller is better.
    fn rank_key(&self, host: usize, service: usize, replicas_of_service: u64) -> RankKey {
        let state = &self.host_states[host];
        match self.services[service].strategy {
            // Service first: each service's replicas end up evenly spread over
            // the hosts that can take them, so losing one host loses as few
            // replicas of any one service as possible. The project-wide count
            // only breaks ties, to even out the load between services.
            Strategy::Spread => (replicas_of_service, state.containers, host),
            Strategy::Binpack => (
                u64::MAX - fullness(self.hosts[host].capacity, state.reserved),
                u64::MAX - state.containers,
                host,
            ),
        }
    }

    /// Places the replicas of `service` that were not kept.
    pub(super) fn place_service(
        &mut self,
        service: usize,
        policy: &mut dyn PlacementPolicy,
    ) -> Result<(), ScheduleError> {
        let replicas = self.services[service].demand.replicas;
        if self.assigned[service].len() as u64 >= u64::from(replicas) {
            return Ok(());
        }
        if self.services[service].colocate_with.is_some() {
            return self.place_colocated(service, replicas);
        }

        let mut replicas_per_host = vec![0_u64; self.hosts.len()];
        for &host in self.assigned[service].values() {
            replicas_per_host[host] += 1;
        }
        // The hosts that pass every filter right now, best first. Placing a
        // replica only changes the host it goes to, and only by taking ports
        // and resources, so a host that fails stays failed for the rest of
        // this service and only the chosen host needs checking again.
        let mut candidates: BTreeSet<RankKey> = (0..self.hosts.len())
            .filter(|&host| self.rejection(host, service).is_none())
            .map(|host| self.rank_key(host, service, replicas_per_host[host]))
            .collect();
        let inspects = policy.inspects_candidates();
        let mut candidate_list: Vec<Candidate<'a>> = Vec::new();
        let mut candidate_indexes: Vec<usize> = Vec::new();

        for replica in 1..=replicas {
            if self.assigned[service].contains_key(&replica) {
                continue;
            }
            let Some(&(_, _, best)) = candidates.first() else {
                return Err(ScheduleError::NoHostFits {
                    service: self.services[service].demand.name.clone(),
                    replica,
                    rejections: self.all_rejections(service),
                });
            };
            let chosen = if inspects {
                candidate_list.clear();
                candidate_indexes.clear();
                for &(_, _, host) in &candidates {
                    candidate_list.push(Candidate {
                        host: self.hosts[host],
                        service_replicas: replicas_per_host[host],
                        containers: self.host_states[host].containers,
                    });
                    candidate_indexes.push(host);
                }
                let demand = self.services[service].demand;
                match policy.choose(demand, replica, &candidate_list) {
                    Err(error) => {
                        return Err(ScheduleError::PolicyFailed {
                            policy: policy.name().to_string(),
                            service: demand.name.clone(),
                            replica,
                            message: error.message,
                        });
                    }
                    Ok(None) => best,
                    Ok(Some(name)) => {
                        let position = candidate_list
                            .iter()
                            .position(|candidate| candidate.host.name == name);
                        match position {
                            Some(position) => candidate_indexes[position],
                            None => {
                                return Err(ScheduleError::PolicyChoseNonCandidate {
                                    policy: policy.name().to_string(),
                                    service: demand.name.clone(),
                                    replica,
                                    host: name,
                                    candidates: candidate_list
                                        .iter()
                                        .map(|candidate| candidate.host.name.clone())
                                        .collect(),
                                });
                            }
                        }
                    }
                }
            } else {
                best
            };

            let old_key = self.rank_key(chosen, service, replicas_per_host[chosen]);
            candidates.remove(&old_key);
            self.assign(service, replica, chosen);
            replicas_per_host[chosen] += 1;
            if self.dynamic_rejection(chosen, service).is_none() {
                candidates.insert(self.rank_key(chosen, service, replicas_per_host[chosen]));
            }
        }
        Ok(())
    }

    /// Places the replicas of a colocated service that were not kept, each on
    /// the host of the target replica it follows.
    fn place_colocated(&mut self, service: usize, replicas: u32) -> Result<(), ScheduleError> {
        for replica in 1..=replicas {
            if self.assigned[service].contains_key(&replica) {
                continue;
            }
            let Some(colocation) = self.colocation_host(service, replica) else {
                return Ok(());
            };
            let ColocationTarget {
                target,
                target_replica,
                host,
            } = colocation?;
            let Some(host) = host else {
                return Err(ScheduleError::ColocationTargetUnplaced {
                    service: self.services[service].demand.name.clone(),
                    replica,
                    target: self.services[target].demand.name.clone(),
                    target_replica,
                });
            };
            if let Some(pin) = self.services[service].demand.state_pins.get(&replica)
                && pin.host != self.hosts[host].name
            {
                let reason = PinRejection::Colocation {
                    target: self.services[target].demand.name.clone(),
                    target_replica,
                    host: self.hosts[host].name.clone(),
                };
                return Err(self.state_would_move(service, replica, pin, reason));
            }
            if let Some(reason) = self.rejection(host, service) {
                return Err(ScheduleError::ColocationHostRejected {
                    service: self.services[service].demand.name.clone(),
                    replica,
                    target: self.services[target].demand.name.clone(),
                    target_replica,
                    host: self.hosts[host].name.clone(),
                    reason: Box::new(reason),
                });
            }
            self.assign(service, replica, host);
        }
        Ok(())
    }

    /// Every placement, sorted by service name and replica.
    pub(super) fn into_placements(self) -> Vec<Placement> {
        let mut placements = Vec::new();
        for (service, assigned) in self.assigned.iter().enumerate() {
            let name = &self.services[service].demand.name;
            for (&replica, &host) in assigned {
                placements.push(Placement {
                    service: name.clone(),
                    replica,
                    host: self.hosts[host].name.clone(),
                });
            }
        }
        placements
    }
}

/// How full a host is, in billionths: the larger of the CPU and the memory
/// fraction reserved, over the dimensions its capacity limits; 0 when its
/// capacity is unknown (binpack then falls back to container counts).
pub(super) fn fullness(capacity: Option<Resources>, reserved: Resources) -> u64 {
    let Some(capacity) = capacity else {
        return 0;
    };
    let fraction = |used: u64, total: u64| -> u64 {
        if total == 0 {
            return 0;
        }
        let billionths = u128::from(used) * 1_000_000_000 / u128::from(total);
        u64::try_from(billionths).unwrap_or(u64::MAX)
    };
    fraction(reserved.nano_cpus, capacity.nano_cpus)
        .max(fraction(reserved.memory_bytes, capacity.memory_bytes))
}

/// Services in placement order: a service after the one it colocates with,
/// otherwise by name (the services are sorted by name, so by index).
pub(super) fn placement_order(
    services: &[PreparedService<'_>],
) -> Result<Vec<usize>, ScheduleError> {
    let mut dependents: Vec<Vec<usize>> = services.iter().map(|_| Vec::new()).collect();
    let mut ready = BTreeSet::new();
    for (index, service) in services.iter().enumerate() {
        match service.colocate_with {
            Some(target) => dependents[target].push(index),
            None => {
                ready.insert(index);
            }
        }
    }
    let mut order = Vec::with_capacity(services.len());
    while let Some(index) = ready.pop_first() {
        order.push(index);
        ready.extend(dependents[index].iter().copied());
    }
    if order.len() == services.len() {
        return Ok(order);
    }

    // Every service left out is on a cycle or colocates, through others, with
    // one: follow targets from the first left out until a service repeats.
    let mut placed = vec![false; services.len()];
    for &index in &order {
        placed[index] = true;
    }
    let start = placed.iter().position(|&is_placed| !is_placed).unwrap_or(0);
    let mut path = vec![start];
    let mut current = start;
    while let Some(next) = services
        .get(current)
        .and_then(|service| service.colocate_with)
    {
        if let Some(position) = path.iter().position(|&visited| visited == next) {
            let mut cycle: Vec<usize> = path[position..].to_vec();
            // Start the cycle at its first name, so the message is the same
            // whichever service the walk began from.
            let smallest = cycle
                .iter()
                .enumerate()
                .min_by_key(|&(_, &service)| service)
                .map_or(0, |(position, _)| position);
            cycle.rotate_left(smallest);
            let mut names: Vec<String> = cycle
                .iter()
                .map(|&service| services[service].demand.name.clone())
                .collect();
            if let Some(first) = names.first().cloned() {
                names.push(first);
            }
            return Err(ScheduleError::ColocationCycle { cycle: names });
        }
        path.push(next);
        current = next;
    }
    // Unreachable: a service left out always leads to a cycle. Report the
    // walk as the cycle rather than panic.
    Err(ScheduleError::ColocationCycle {
        cycle: path
            .iter()
            .map(|&service| services[service].demand.name.clone())
            .collect(),
    })
}
