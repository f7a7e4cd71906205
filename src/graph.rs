//! graph: [`Model`] → [`Graph`]: dependencies resolved, cycles reported as paths
//! (`lint -> test -> lint`), a deterministic topological order (dependencies first, ties by
//! name), and renderings as DOT, Mermaid and JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::error::{Diagnostic, Error, did_you_mean};
use crate::model::{Gate, Model};

/// The validated, acyclic gate graph.
#[derive(Debug)]
pub struct Graph {
    pub model: Model,
    /// Every gate, dependencies before dependents, ties broken by name.
    pub order: Vec<String>,
    /// For each gate, its resolved dependencies (sorted, deduplicated).
    pub deps: BTreeMap<String, Vec<String>>,
}

impl Graph {
    pub fn gate(&self, name: &str) -> &Gate {
        &self.model.gates[name]
    }

    /// `names` and everything they depend on, in topological order.
    pub fn closure<'a>(&'a self, names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let mut selected = BTreeSet::new();
        let mut stack: Vec<&str> = names.into_iter().collect();
        while let Some(name) = stack.pop() {
            if selected.insert(name) {
                stack.extend(self.deps[name].iter().map(String::as_str));
            }
        }
        self.order
            .iter()
            .map(String::as_str)
            .filter(|name| selected.contains(name))
            .collect()
    }
}

/// Resolves deps and orders the gates. Diagnostics cover unknown deps, unknown `default`
/// targets and every cycle (one per strongly connected component).
pub fn graph(model: Model) -> (Graph, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut dag: DiGraph<&str, ()> = DiGraph::new();
    // Gates are added in name order, so node indices (and so the orders below) are stable.
    let index: BTreeMap<&str, NodeIndex> = model
        .gates
        .keys()
        .map(|name| (name.as_str(), dag.add_node(name.as_str())))
        .collect();
    let names = || model.gates.keys().map(String::as_str);

    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for gate in model.gates.values() {
        let mut resolved = BTreeSet::new();
        for dep in &gate.deps {
            match index.get(dep.value.as_str()) {
                Some(&target) => {
                    if resolved.insert(dep.value.clone()) {
                        // Edge direction: dependency → dependent, so a topological order runs
                        // dependencies first.
                        dag.add_edge(target, index[gate.name.as_str()], ());
                    }
                }
                None => {
                    let hint = did_you_mean(&dep.value, names().filter(|n| *n != gate.name));
                    let error = Error::UnknownDep {
                        gate: gate.name.clone(),
                        dep: dep.value.clone(),
                        hint,
                    };
                    diagnostics.push(Diagnostic::at(error, dep.span, "no gate by this name"));
                }
            }
        }
        deps.insert(gate.name.clone(), resolved.into_iter().collect());
    }

    for target in &model.default {
        if target.value != "all" && !model.gates.contains_key(&target.value) {
            let hint = did_you_mean(&target.value, names());
            let error = Error::UnknownDefault {
                name: target.value.clone(),
                hint,
            };
            diagnostics.push(Diagnostic::at(error, target.span, "no gate by this name"));
        }
    }

    // kosaraju_scc walks iteratively; tarjan_scc recurses once per node and overflows the
    // stack on a long dependency chain.
    for component in petgraph::algo::kosaraju_scc(&dag) {
        let looped = component.len() > 1 || dag.contains_edge(component[0], component[0]);
        if looped {
            diagnostics.push(cycle(
                &model,
                &deps,
                &component.iter().map(|&i| dag[i]).collect(),
            ));
        }
    }

    let order = if diagnostics
        .iter()
        .any(|d| matches!(*d.error, Error::Cycle { .. }))
    {
        Vec::new()
    } else {
        order(&dag)
    };
    let graph = Graph { order, deps, model };
    (graph, diagnostics)
}

/// Kahn's algorithm with a name-ordered ready set: petgraph's `toposort` is correct but its
/// order follows DFS finishing times, which reads poorly in `--dry-run` and `list`.
fn order(dag: &DiGraph<&str, ()>) -> Vec<String> {
    let mut waiting: BTreeMap<NodeIndex, usize> = dag
        .node_indices()
        .map(|i| (i, dag.neighbors_directed(i, Direction::Incoming).count()))
        .collect();
    let mut ready: BTreeSet<(&str, NodeIndex)> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(i, _)| (dag[*i], *i))
        .collect();
    let mut order = Vec::with_capacity(dag.node_count());
    while let Some((name, node)) = ready.pop_first() {
        order.push(name.to_owned());
        for next in dag.neighbors_directed(node, Direction::Outgoing) {
            let count = waiting.get_mut(&next).expect("every node is counted");
            *count -= 1;
            if *count == 0 {
                ready.insert((dag[next], next));
            }
        }
    }
    order
}

/// A diagnostic for one strongly connected component: the cycle through its first gate by
/// name, written in "depends on" direction, pointing at each dep that closes a link.
fn cycle(
    model: &Model,
    deps: &BTreeMap<String, Vec<String>>,
    component: &BTreeSet<&str>,
) -> Diagnostic {
    let start = *component.first().expect("a component is not empty");
    // Breadth-first search for the shortest path start → ... → start inside the component.
    let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    'search: while let Some(current) = queue.pop_front() {
        for dep in deps[current]
            .iter()
            .map(String::as_str)
            .filter(|d| component.contains(d))
        {
            if dep == start {
                previous.insert(start, current);
                break 'search;
            }
            if !previous.contains_key(dep) {
                previous.insert(dep, current);
                queue.push_back(dep);
            }
        }
    }
    let mut path = vec![start];
    let mut current = previous[start];
    while current != start {
        path.push(current);
        current = previous[current];
    }
    path.push(start);
    path.reverse();

    let links: Vec<(&str, &str)> = path.windows(2).map(|w| (w[0], w[1])).collect();
    let dep_span = |gate: &str, dep: &str| {
        model.gates[gate]
            .deps
            .iter()
            .find(|d| d.value == dep)
            .map(|d| d.span)
            .expect("a link comes from a written dep")
    };
    let (first, second) = links[0];
    let error = Error::Cycle {
        cycle: path.join(" -> "),
    };
    let mut diagnostic = Diagnostic::at(
        error,
        dep_span(first, second),
        format!("`{first}` depends on `{second}`"),
    );
    for &(gate, dep) in &links[1..] {
        diagnostic = diagnostic.note(dep_span(gate, dep), format!("`{gate}` depends on `{dep}`"));
    }
    diagnostic
}

/// Which notation [`render`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Dot,
    Mermaid,
    Json,
    /// The whole graph as one canonical gates.kdl (see [`canonical`]).
    Kdl,
}

/// The graph as one canonical gates.kdl: includes spliced in, variables substituted, the
/// global env folded into each gate, gates sorted by name and every field written in a fixed
/// order with its default spelt out. Two files that mean the same graph give the same text,
/// whatever their layout, comments or include structure; run records carry its digest.
pub fn canonical(graph: &Graph) -> String {
    use kdl::{KdlDocument, KdlEntry, KdlNode};
    let mut document = KdlDocument::new();
    let default = graph.model.default.iter().map(|d| d.value.clone());
    field(&mut document, "default", default);
    for gate in graph.model.gates.values() {
        let mut node = KdlNode::new("gate");
        node.push(KdlEntry::new(gate.name.clone()));
        let children = node.ensure_children();
        field(children, "description", gate.description.clone());
        field(children, "deps", graph.deps[&gate.name].iter().cloned());
        if !gate.is_group() {
            execution(children, gate);
        }
        field(children, "tags", gate.tags.iter().cloned());
        field(children, "optional", [gate.optional]);
        document.nodes_mut().push(node);
    }
    document.autoformat();
    let mut text = document.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// The settings of a gate that runs, in canonical order (a group has none of them).
fn execution(children: &mut kdl::KdlDocument, gate: &Gate) {
    use crate::parse::When;
    use kdl::{KdlEntry, KdlNode};
    field(children, "requires", gate.requires.iter().cloned());
    field(children, "version", gate.version.clone());
    field(children, "shell", gate.shell.iter().cloned());
    field(children, "run", gate.run.iter().cloned());
    let cwd = gate.cwd.to_string_lossy();
    field(
        children,
        "cwd",
        [if cwd.is_empty() {
            ".".into()
        } else {
            cwd.into_owned()
        }],
    );
    field(children, "inputs", gate.inputs.iter().cloned());
    field(children, "outputs", gate.outputs.iter().cloned());
    if !gate.env.is_empty() {
        let mut env = KdlNode::new("env");
        for (name, value) in &gate.env {
            env.push(KdlEntry::new_prop(name.as_str(), value.clone()));
        }
        children.nodes_mut().push(env);
    }
    field(children, "pass-env", gate.pass_env.iter().cloned());
    field(children, "hash-env", gate.hash_env.iter().cloned());
    for when in &gate.when {
        let mut node = KdlNode::new("when");
        match when {
            When::Env { name, equals } => {
                node.push(KdlEntry::new_prop("env", name.clone()));
                if let Some(equals) = equals {
                    node.push(KdlEntry::new_prop("equals", equals.clone()));
                }
            }
            When::File(path) => node.push(KdlEntry::new_prop("file", path.clone())),
        }
        children.nodes_mut().push(node);
    }
    field(children, "timeout", gate.timeout.map(crate::exec::human));
    field(children, "cache", [gate.cache]);
    field(children, "fix", [gate.fix]);
    // Extensions, written only when declared so graphs without them read as before.
    let codes = &gate.exit_codes;
    field(
        children,
        "ok-codes",
        codes.ok.iter().map(|c| i128::from(*c)),
    );
    for (name, map) in [("skip-codes", &codes.skip), ("fail-codes", &codes.fail)] {
        for (code, reason) in map {
            let mut node = KdlNode::new(name);
            node.push(KdlEntry::new(i128::from(*code)));
            if let Some(reason) = reason {
                node.push(KdlEntry::new_prop("reason", reason.clone()));
            }
            children.nodes_mut().push(node);
        }
    }
    field(
        children,
        "facts",
        gate.facts
            .as_ref()
            .map(|f| f.to_string_lossy().into_owned()),
    );
}

/// A node `name` with `values` as arguments, left out when there are none.
fn field<V: Into<kdl::KdlValue>>(
    children: &mut kdl::KdlDocument,
    name: &str,
    values: impl IntoIterator<Item = V>,
) {
    let mut node = kdl::KdlNode::new(name);
    for value in values {
        node.push(kdl::KdlEntry::new(value));
    }
    if !node.entries().is_empty() {
        children.nodes_mut().push(node);
    }
}

/// The subgraph of `gates` (a topologically ordered list) in the given notation. Edges point
/// from a gate to what it depends on; groups are drawn differently from gates that run.
pub fn render(graph: &Graph, gates: &[&str], format: Format) -> String {
    let mut out = String::new();
    let edges = || {
        gates
            .iter()
            .flat_map(|g| graph.deps[*g].iter().map(move |d| (*g, d.as_str())))
    };
    match format {
        Format::Dot => {
            out.push_str("digraph gates {\n    rankdir=LR;\n    node [shape=box];\n");
            for name in gates {
                let shape = if graph.gate(name).is_group() {
                    " [shape=ellipse]"
                } else {
                    ""
                };
                let _ = writeln!(out, "    {name:?}{shape};");
            }
            for (gate, dep) in edges() {
                let _ = writeln!(out, "    {gate:?} -> {dep:?};");
            }
            out.push_str("}\n");
        }
        Format::Mermaid => {
            out.push_str("flowchart LR\n");
            let id: BTreeMap<&str, usize> =
                gates.iter().enumerate().map(|(i, g)| (*g, i)).collect();
            for (i, name) in gates.iter().enumerate() {
                let (open, close) = if graph.gate(name).is_group() {
                    ("([", "])")
                } else {
                    ("[", "]")
                };
                let _ = writeln!(out, "    g{i}{open}\"{name}\"{close}");
            }
            for (gate, dep) in edges() {
                let _ = writeln!(out, "    g{} --> g{}", id[gate], id[dep]);
            }
        }
        Format::Json => {
            let nodes: Vec<serde_json::Value> = gates
                .iter()
                .map(|name| serde_json::json!({ "name": name, "group": graph.gate(name).is_group(), "deps": graph.deps[*name] }))
                .collect();
            out = serde_json::to_string_pretty(&serde_json::json!({ "gates": nodes }))
                .expect("JSON values serialise");
            out.push('\n');
        }
        Format::Kdl => out = canonical(graph),
    }
    out
}
