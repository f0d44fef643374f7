//! The commands of routed mode on a host (flannel's host-gw: a route to every other host's
//! subnets, and forwarding without NAT inside the pool), built from typed values only.
//!
//! Every word of these scripts is a fixed word or the rendering of a typed value (an
//! [`Ipv4Cidr`], an [`Ipv4Addr`], a project name checked by [`rule_tag`]): nothing a host, a
//! daemon or a compose file holds is ever copied into them as text. Removing a project's
//! rules reads the host's rules back ([`LIST_RULES`]), parses them here ([`project_rules`]),
//! keeps only the rules whose every argument is exactly what [`ensure_script`] installs for
//! that project, and deletes those by their exact argument lists ([`remove_script`]) — the
//! host's output is never evaluated. This module only builds and parses text; running it over
//! SSH is the host actor's job.

use std::net::Ipv4Addr;

use crate::inventory::Ipv4Cidr;
use crate::plan::Route;

/// A value that cannot go into a routed-mode command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteScriptError {
    /// The project name is not the reduced form nap uses for Docker names.
    #[error("project name {0:?} cannot tag firewall rules (letters, digits, '_' and '-' only)")]
    ProjectName(String),
    /// A route's gateway is not an IPv4 address.
    #[error("route to {subnet} via {via:?}: the host's address must be an IPv4 address")]
    Gateway {
        /// The route's subnet.
        subnet: Ipv4Cidr,
        /// The gateway as given.
        via: String,
    },
}

/// The fixed command that lists the two chains nap adds rules to, separated by a marker line.
pub const LIST_RULES: &str = "iptables -t filter -S DOCKER-USER 2>/dev/null; echo '--nap-nat--'; iptables -t nat -S POSTROUTING 2>/dev/null; true";

/// The line [`LIST_RULES`] prints between the filter and the nat table.
const NAT_MARK: &str = "--nap-nat--";

/// The iptables comment that tags a project's forwarding rules: `nap:<project>`.
pub fn rule_tag(project: &str) -> Result<String, RouteScriptError> {
    let valid = !project.is_empty()
        && project.len() <= 200
        && project.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"_-".contains(&byte)
        })
        && !project.starts_with('-');
    if valid {
        Ok(format!("nap:{project}"))
    } else {
        Err(RouteScriptError::ProjectName(project.to_string()))
    }
}

/// One of the rules nap installs for a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectRule {
    /// `filter DOCKER-USER -s <pool> -d <subnet> -j ACCEPT`: forward the pool's traffic to a
    /// local subnet.
    Accept {
        /// Source (the pool).
        source: Ipv4Cidr,
        /// Destination (a local subnet).
        destination: Ipv4Cidr,
    },
    /// `nat POSTROUTING -s <subnet> -d <pool> -j RETURN`: no NAT inside the pool.
    NoNat {
        /// Source (a local subnet).
        source: Ipv4Cidr,
        /// Destination (the pool).
        destination: Ipv4Cidr,
    },
}

impl ProjectRule {
    /// The rule's arguments after `-t TABLE -X`, with `tag` as its comment.
    fn arguments(&self, tag: &str) -> (&'static str, String) {
        match self {
            ProjectRule::Accept {
                source,
                destination,
            } => (
                "filter",
                format!(
                    "DOCKER-USER -s {source} -d {destination} -m comment --comment {tag} -j ACCEPT"
                ),
            ),
            ProjectRule::NoNat {
                source,
                destination,
            } => (
                "nat",
                format!(
                    "POSTROUTING -s {source} -d {destination} -m comment --comment {tag} -j RETURN"
                ),
            ),
        }
    }
}

/// The script that makes a host route to the other hosts' subnets and forward the pool's
/// traffic to its own subnets without NAT. Idempotent.
pub fn ensure_script(
    project: &str,
    routes: &[Route],
    pool: Ipv4Cidr,
    local_subnets: &[Ipv4Cidr],
) -> Result<String, RouteScriptError> {
    let tag = rule_tag(project)?;
    let mut script = String::from("set -e\n");
    for route in routes {
        let via: Ipv4Addr = route.via.parse().map_err(|_| RouteScriptError::Gateway {
            subnet: route.subnet,
            via: route.via.clone(),
        })?;
        script.push_str(&format!("ip route replace {} via {via}\n", route.subnet));
    }
    for subnet in local_subnets {
        for rule in [
            ProjectRule::Accept {
                source: pool,
                destination: *subnet,
            },
            ProjectRule::NoNat {
                source: *subnet,
                destination: pool,
            },
        ] {
            let (table, arguments) = rule.arguments(&tag);
            script.push_str(&format!(
                "iptables -t {table} -C {arguments} 2>/dev/null || iptables -t {table} -I {arguments}\n"
            ));
        }
    }
    Ok(script)
}

/// The rules of `project` in the output of [`LIST_RULES`]: only lines that are exactly a
/// rule [`ensure_script`] installs (same chain, options, comment and target), each parsed into
/// its typed values. Anything else — other projects' rules, other tools' rules, lines that
/// merely mention the tag — is not a match.
pub fn project_rules(listing: &str, project: &str) -> Result<Vec<ProjectRule>, RouteScriptError> {
    let tag = rule_tag(project)?;
    let quoted = format!("\"{tag}\"");
    let mut rules = Vec::new();
    let mut nat = false;
    for line in listing.lines() {
        let line = line.trim_end();
        if line == NAT_MARK {
            nat = true;
            continue;
        }
        let words: Vec<&str> = line.split(' ').collect();
        let [
            "-A",
            chain,
            "-s",
            source,
            "-d",
            destination,
            "-m",
            "comment",
            "--comment",
            comment,
            "-j",
            target,
        ] = words.as_slice()
        else {
            continue;
        };
        if *comment != tag && *comment != quoted {
            continue;
        }
        let (Ok(source), Ok(destination)) = (Ipv4Cidr::parse(source), Ipv4Cidr::parse(destination))
        else {
            continue;
        };
        let rule = match (nat, *chain, *target) {
            (false, "DOCKER-USER", "ACCEPT") => ProjectRule::Accept {
                source,
                destination,
            },
            (true, "POSTROUTING", "RETURN") => ProjectRule::NoNat {
                source,
                destination,
            },
            _ => continue,
        };
        // The listing names a network by its canonical form; a rule whose text is not that
        // form was not written by nap.
        if source.to_string() != words[3] || destination.to_string() != words[5] {
            continue;
        }
        rules.push(rule);
    }
    Ok(rules)
}

/// The script that removes `rules` (from [`project_rules`]) and the routes to `subnets`.
/// Deleting what is already gone is not an error.
pub fn remove_script(
    project: &str,
    subnets: &[Ipv4Cidr],
    rules: &[ProjectRule],
) -> Result<String, RouteScriptError> {
    let tag = rule_tag(project)?;
    let mut script = String::new();
    for subnet in subnets {
        script.push_str(&format!("ip route del {subnet} 2>/dev/null || true\n"));
    }
    for rule in rules {
        let (table, arguments) = rule.arguments(&tag);
        script.push_str(&format!(
            "iptables -t {table} -D {arguments} 2>/dev/null || true\n"
        ));
    }
    script.push_str("true\n");
    Ok(script)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Ipv4Cidr {
        Ipv4Cidr::parse(text).unwrap()
    }

    #[test]
    fn ensure_is_idempotent_and_tagged_by_project() {
        let script = ensure_script(
            "demo",
            &[Route {
                subnet: cidr("172.30.1.0/24"),
                via: "10.210.0.12".to_string(),
            }],
            cidr("172.30.0.0/16"),
            &[cidr("172.30.0.0/24")],
        )
        .unwrap();
        assert_eq!(
            script,
            "set -e\n\
             ip route replace 172.30.1.0/24 via 10.210.0.12\n\
             iptables -t filter -C DOCKER-USER -s 172.30.0.0/16 -d 172.30.0.0/24 -m comment --comment nap:demo -j ACCEPT 2>/dev/null || iptables -t filter -I DOCKER-USER -s 172.30.0.0/16 -d 172.30.0.0/24 -m comment --comment nap:demo -j ACCEPT\n\
             iptables -t nat -C POSTROUTING -s 172.30.0.0/24 -d 172.30.0.0/16 -m comment --comment nap:demo -j RETURN 2>/dev/null || iptables -t nat -I POSTROUTING -s 172.30.0.0/24 -d 172.30.0.0/16 -m comment --comment nap:demo -j RETURN\n"
        );
    }

    #[test]
    fn values_that_are_not_typed_are_refused() {
        let route = |via: &str| Route {
            subnet: cidr("172.30.1.0/24"),
            via: via.to_string(),
        };
        for via in ["h2; reboot", "10.0.0.1 dev eth0", "$(id)", "host.example"] {
            assert!(
                matches!(
                    ensure_script("demo", &[route(via)], cidr("172.30.0.0/16"), &[]),
                    Err(RouteScriptError::Gateway { .. })
                ),
                "{via}"
            );
        }
        for project in ["Demo", "a b", "a;b", "-a", "", "a'b", "a\nb"] {
            assert_eq!(
                rule_tag(project),
                Err(RouteScriptError::ProjectName(project.to_string()))
            );
        }
    }

    #[test]
    fn removal_deletes_exactly_the_project_s_own_rules() {
        let listing = "\
-N DOCKER-USER
-A DOCKER-USER -s 172.30.0.0/16 -d 172.30.0.0/24 -m comment --comment nap:demo -j ACCEPT
-A DOCKER-USER -s 172.30.0.0/16 -d 172.30.2.0/24 -m comment --comment \"nap:demo\" -j ACCEPT
-A DOCKER-USER -s 172.31.0.0/16 -d 172.31.0.0/24 -m comment --comment nap:demo2 -j ACCEPT
-A DOCKER-USER -s 172.30.0.0/16 -d 172.30.0.0/24 -m comment --comment nap:demo -j DROP
-A DOCKER-USER -s 172.30.0.0/16 -d 172.30.0.0/24 -m comment --comment nap:demo -j ACCEPT; reboot
-A DOCKER-USER -j RETURN
--nap-nat--
-P POSTROUTING ACCEPT
-A POSTROUTING -s 172.30.0.0/24 -d 172.30.0.0/16 -m comment --comment nap:demo -j RETURN
-A POSTROUTING -s 172.30.0.0/24 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.30.0.0/24 -d 172.30.0.0/16 -m comment --comment $(reboot) -j RETURN
";
        let rules = project_rules(listing, "demo").unwrap();
        assert_eq!(
            rules,
            vec![
                ProjectRule::Accept {
                    source: cidr("172.30.0.0/16"),
                    destination: cidr("172.30.0.0/24")
                },
                ProjectRule::Accept {
                    source: cidr("172.30.0.0/16"),
                    destination: cidr("172.30.2.0/24")
                },
                ProjectRule::NoNat {
                    source: cidr("172.30.0.0/24"),
                    destination: cidr("172.30.0.0/16")
                },
            ]
        );
        let script = remove_script("demo", &[cidr("172.30.1.0/24")], &rules).unwrap();
        assert_eq!(
            script,
            "ip route del 172.30.1.0/24 2>/dev/null || true\n\
             iptables -t filter -D DOCKER-USER -s 172.30.0.0/16 -d 172.30.0.0/24 -m comment --comment nap:demo -j ACCEPT 2>/dev/null || true\n\
             iptables -t filter -D DOCKER-USER -s 172.30.0.0/16 -d 172.30.2.0/24 -m comment --comment nap:demo -j ACCEPT 2>/dev/null || true\n\
             iptables -t nat -D POSTROUTING -s 172.30.0.0/24 -d 172.30.0.0/16 -m comment --comment nap:demo -j RETURN 2>/dev/null || true\n\
             true\n"
        );
        // A rule of the filter table listed after the mark is not taken for a nat rule.
        assert!(
            project_rules(
                "--nap-nat--\n-A DOCKER-USER -s 172.30.0.0/16 -d 172.30.0.0/24 -m comment --comment nap:demo -j ACCEPT\n",
                "demo"
            )
            .unwrap()
            .is_empty()
        );
    }
}
