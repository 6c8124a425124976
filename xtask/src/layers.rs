//! The layer check: which top-level module of `service/src` refers to which, against the
//! drawing in `docs/architecture.md`.
//!
//! The drawing is the fenced block marked `layers`: one line per layer, top layer first, the
//! modules of a layer separated by spaces. A module may refer only to modules on lower lines;
//! modules on one line are independent of each other. A reference is any path that names
//! another top-level module: `use crate::x`, `crate::x::f()` in code or inside a macro's tokens,
//! or `super::` climbing out of the module. Tests count too: a test that needs an upper layer
//! couples the layers as much as code does. Doc comments do not.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

pub fn main(repo: &Path, args: &[String]) -> ExitCode {
    let mut check = false;
    let mut root = repo.to_path_buf();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--root" => match args.next() {
                Some(dir) => root = PathBuf::from(dir),
                None => return usage(),
            },
            _ => return usage(),
        }
    }
    let spec = match std::fs::read_to_string(repo.join("docs/architecture.md")) {
        Ok(text) => match Spec::from_markdown(&text) {
            Ok(spec) => spec,
            Err(e) => {
                eprintln!("docs/architecture.md: {e}");
                return ExitCode::FAILURE;
            }
        },
        Err(e) => {
            eprintln!("cannot read docs/architecture.md: {e}");
            return ExitCode::FAILURE;
        }
    };
    let graph = match Graph::of_crate(&root.join("service/src")) {
        Ok(graph) => graph,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let report = Report::new(&graph, &spec);
    print!("{}", report.render(&graph));
    if check && !report.is_clean() {
        eprintln!("the module layers in docs/architecture.md are broken (see above)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("usage: cargo xtask layers [--check] [--root DIR]");
    ExitCode::from(2)
}

/// The layers drawn in the architecture document, bottom layer first.
#[derive(Debug)]
pub struct Spec {
    layers: Vec<Vec<String>>,
}

impl Spec {
    pub fn from_markdown(text: &str) -> Result<Spec, String> {
        let mut lines = text.lines();
        if !lines.any(|l| l.trim() == "```layers") {
            return Err("no ```layers block".into());
        }
        let mut layers = Vec::new();
        for line in lines {
            let line = line.trim();
            if line == "```" {
                layers.reverse();
                let spec = Spec { layers };
                let mut seen = BTreeSet::new();
                for module in spec.layers.iter().flatten() {
                    if !seen.insert(module) {
                        return Err(format!("module {module} is drawn on two layers"));
                    }
                }
                return Ok(spec);
            }
            let modules: Vec<String> = line
                .split_whitespace()
                .take_while(|w| !w.starts_with('#'))
                .map(str::to_owned)
                .collect();
            if !modules.is_empty() {
                layers.push(modules);
            }
        }
        Err("the ```layers block is not closed".into())
    }

    /// The layer of `module`, 0 at the bottom.
    fn layer(&self, module: &str) -> Option<usize> {
        self.layers
            .iter()
            .position(|l| l.iter().any(|m| m == module))
    }
}

/// References between the top-level modules of one crate.
#[derive(Debug, Default)]
pub struct Graph {
    pub modules: BTreeSet<String>,
    /// `(from, to)` → how many references.
    pub edges: BTreeMap<(String, String), usize>,
}

impl Graph {
    pub fn of_crate(src: &Path) -> Result<Graph, String> {
        let mut graph = Graph::default();
        let entries = std::fs::read_dir(src).map_err(|e| format!("{}: {e}", src.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| e.to_string())?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() {
                graph.modules.insert(name);
            } else if let Some(stem) = name.strip_suffix(".rs")
                && stem != "lib"
                && stem != "main"
            {
                graph.modules.insert(stem.to_owned());
            }
        }
        let mut files = Vec::new();
        collect_rs(src, &mut files)?;
        for file in files {
            let relative = file.strip_prefix(src).expect("under src");
            let path = module_path(relative);
            let Some(top) = path.first().cloned() else {
                continue; // lib.rs and main.rs declare the modules
            };
            let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
            let parsed = syn::parse_file(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            let mut refs = References {
                path,
                targets: Vec::new(),
            };
            refs.visit_file(&parsed);
            for target in refs.targets {
                if target != top && graph.modules.contains(&target) {
                    *graph.edges.entry((top.clone(), target)).or_default() += 1;
                }
            }
        }
        Ok(graph)
    }

    /// Strongly connected components with more than one module: the cycles.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (from, to) in self.edges.keys() {
            next.entry(from).or_default().push(to);
        }
        // Two passes of reachability are enough at this size: a module's component is what it
        // reaches that also reaches it.
        let reach = |start: &str| {
            let mut seen = BTreeSet::new();
            let mut todo = vec![start];
            while let Some(m) = todo.pop() {
                for &n in next.get(m).into_iter().flatten() {
                    if seen.insert(n) {
                        todo.push(n);
                    }
                }
            }
            seen
        };
        let reaches: BTreeMap<&str, BTreeSet<&str>> = self
            .modules
            .iter()
            .map(|m| (m.as_str(), reach(m)))
            .collect();
        let mut cycles: Vec<Vec<String>> = Vec::new();
        let mut placed = BTreeSet::new();
        for m in &self.modules {
            if placed.contains(m.as_str()) || !reaches[m.as_str()].contains(m.as_str()) {
                continue;
            }
            let component: Vec<String> = reaches[m.as_str()]
                .iter()
                .filter(|n| reaches[**n].contains(m.as_str()))
                .map(|n| n.to_string())
                .collect();
            placed.extend(component.iter().cloned());
            cycles.push(component);
        }
        cycles
    }
}

/// What `docs/architecture.md`'s drawing says about a graph.
pub struct Report {
    /// Edges from a module to one on its own layer or above.
    pub upward: Vec<((String, String), usize)>,
    pub cycles: Vec<Vec<String>>,
    /// Modules of the crate the drawing does not place.
    pub unplaced: Vec<String>,
    /// Modules drawn that the crate does not have.
    pub stale: Vec<String>,
}

impl Report {
    pub fn new(graph: &Graph, spec: &Spec) -> Report {
        let upward = graph
            .edges
            .iter()
            .filter(|((from, to), _)| match (spec.layer(from), spec.layer(to)) {
                (Some(f), Some(t)) => t >= f,
                _ => false,
            })
            .map(|(edge, n)| (edge.clone(), *n))
            .collect();
        let unplaced = graph
            .modules
            .iter()
            .filter(|m| spec.layer(m).is_none())
            .cloned()
            .collect();
        let stale = spec
            .layers
            .iter()
            .flatten()
            .filter(|m| !graph.modules.contains(*m))
            .cloned()
            .collect();
        Report {
            upward,
            cycles: graph.cycles(),
            unplaced,
            stale,
        }
    }

    pub fn is_clean(&self) -> bool {
        self.upward.is_empty()
            && self.cycles.is_empty()
            && self.unplaced.is_empty()
            && self.stale.is_empty()
    }

    fn render(&self, graph: &Graph) -> String {
        let mut out = String::new();
        let references: usize = graph.edges.values().sum();
        let _ = writeln!(
            out,
            "{} modules, {} edges ({references} references)",
            graph.modules.len(),
            graph.edges.len()
        );
        let mut from = "";
        for ((a, b), n) in &graph.edges {
            if a != from {
                let _ = write!(out, "{}{a} ->", if from.is_empty() { "" } else { "\n" });
                from = a;
            }
            let _ = write!(out, " {b}({n})");
        }
        let _ = writeln!(out);
        let largest = self.cycles.iter().map(Vec::len).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "upward or sideways edges: {}\ncycles: {} (largest: {largest} modules)",
            self.upward.len(),
            self.cycles.len()
        );
        for ((a, b), n) in &self.upward {
            let _ = writeln!(out, "  upward: {a} -> {b} ({n} references)");
        }
        for cycle in &self.cycles {
            let _ = writeln!(out, "  cycle: {}", cycle.join(" "));
        }
        for m in &self.unplaced {
            let _ = writeln!(out, "  not drawn in docs/architecture.md: {m}");
        }
        for m in &self.stale {
            let _ = writeln!(out, "  drawn but not in the crate: {m}");
        }
        out
    }
}

fn collect_rs(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect_rs(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    Ok(())
}

/// `gateway/relay/held.rs` → `[gateway, relay, held]`; `gateway/mod.rs` → `[gateway]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut path: Vec<String> = relative
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if path.last().is_some_and(|l| l == "mod") {
        path.pop();
    }
    if path.len() == 1 && (path[0] == "lib" || path[0] == "main") {
        path.clear();
    }
    path
}

/// Collects the top-level modules one file's paths name.
struct References {
    /// The module being visited, inline `mod` blocks included.
    path: Vec<String>,
    targets: Vec<String>,
}

impl References {
    /// The top-level module a path starting with `segments` names, if it leaves the crate root.
    fn resolve(&mut self, segments: &[String]) {
        match segments.first().map(String::as_str) {
            Some("crate") => {
                if let Some(target) = segments.get(1) {
                    self.targets.push(target.clone());
                }
            }
            Some("super") => {
                let supers = segments.iter().take_while(|s| *s == "super").count();
                if supers >= self.path.len()
                    && let Some(target) = segments.get(supers)
                {
                    self.targets.push(target.clone());
                }
            }
            _ => {}
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                prefix.push(n.ident.to_string());
                self.resolve(prefix);
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                self.resolve(prefix);
                prefix.pop();
            }
            syn::UseTree::Glob(_) => self.resolve(prefix),
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }

    /// `crate :: x` and `super :: … :: x` inside a macro's tokens (`tracing::info!`, `matches!`).
    fn tokens(&mut self, tokens: TokenStream) {
        let flat: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < flat.len() {
            if let TokenTree::Group(g) = &flat[i] {
                self.tokens(g.stream());
            }
            let mut segments = Vec::new();
            let mut j = i;
            while let Some(TokenTree::Ident(id)) = flat.get(j) {
                segments.push(id.to_string());
                let colons = matches!(
                    (flat.get(j + 1), flat.get(j + 2)),
                    (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                        if a.as_char() == ':' && b.as_char() == ':'
                );
                if !colons {
                    break;
                }
                j += 3;
            }
            if segments.len() > 1 {
                self.resolve(&segments);
            }
            i = j.max(i) + 1;
        }
    }
}

impl<'ast> Visit<'ast> for References {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if m.content.is_some() {
            self.path.push(m.ident.to_string());
            syn::visit::visit_item_mod(self, m);
            self.path.pop();
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        self.resolve(&segments);
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.tokens(m.tokens.clone());
        syn::visit::visit_macro(self, m);
    }

    // Doc comments are attributes; intra-doc links are not dependencies.
    fn visit_attribute(&mut self, _: &'ast syn::Attribute) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_of(name: &str, files: &[(&str, &str)]) -> Graph {
        let dir = std::env::temp_dir().join(format!("xtask-layers-{}-{name}", std::process::id(),));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let graph = Graph::of_crate(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        graph
    }

    #[test]
    fn finds_every_spelling_of_a_reference() {
        let graph = graph_of(
            "spellings",
            &[
                (
                    "lib.rs",
                    "pub mod a; pub mod b; pub mod c; pub mod d; pub mod e;",
                ),
                ("a.rs", "use crate::{b::X, c};"),
                (
                    "b/mod.rs",
                    "mod inner; fn f() { tracing::info!(x = %crate::d::y()); }",
                ),
                ("b/inner.rs", "fn g() -> super::super::e::T { todo!() }"),
                ("c.rs", "/// [`crate::a`]\nfn h() {}"),
                ("d.rs", "mod tests { use super::super::c; }"),
                ("e.rs", "use self::x::crate_like; fn f(_: crate::e::T) {}"),
            ],
        );
        let edges: Vec<(&str, &str)> = graph
            .edges
            .keys()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(
            edges,
            [("a", "b"), ("a", "c"), ("b", "d"), ("b", "e"), ("d", "c")]
        );
    }

    #[test]
    fn reports_upward_sideways_unplaced_and_cycles() {
        let graph = graph_of(
            "report",
            &[
                ("lib.rs", ""),
                ("top.rs", "use crate::low::X;"),
                ("low.rs", "use crate::top::Y; use crate::side::Z;"),
                ("side.rs", ""),
                ("stray.rs", ""),
            ],
        );
        let spec =
            Spec::from_markdown("x\n```layers\ntop\nlow side # a comment\ngone\n```\n").unwrap();
        let report = Report::new(&graph, &spec);
        let upward: Vec<_> = report.upward.iter().map(|(e, _)| e.clone()).collect();
        assert_eq!(
            upward,
            [
                ("low".to_owned(), "side".to_owned()),
                ("low".to_owned(), "top".to_owned())
            ]
        );
        assert_eq!(report.cycles, [vec!["low".to_owned(), "top".to_owned()]]);
        assert_eq!(report.unplaced, ["stray"]);
        assert_eq!(report.stale, ["gone"]);
        assert!(!report.is_clean());
    }

    /// The crate itself keeps to the drawing.
    #[test]
    fn hoop_keeps_its_layers() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = std::fs::read_to_string(repo.join("docs/architecture.md")).unwrap();
        let spec = Spec::from_markdown(&text).unwrap();
        let graph = Graph::of_crate(&repo.join("service/src")).unwrap();
        let report = Report::new(&graph, &spec);
        assert!(report.is_clean(), "{}", report.render(&graph));
    }
}
