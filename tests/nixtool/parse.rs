//! A small Nix parser, just enough to find which option paths a NixOS module sets: attribute
//! sets with their binding paths, lambdas, let/with/if, lists, parentheses and operators.
//! Strings, numbers and paths are opaque. Every file it reads is also parsed by
//! `nix-instantiate --parse`, so a file it misreads cannot be valid Nix it silently skipped.

use super::lex::{lex, Tok, PUNCT};

#[derive(Debug, Clone)]
pub enum Expr {
    Lambda(Vec<String>, Box<Expr>),
    Set(Vec<(Vec<String>, Expr)>),
    List(Vec<Expr>),
    Seq(Vec<Expr>),
    Var(Vec<String>),
    Op(String),
    Opaque,
}

pub struct Parser {
    t: Vec<Tok>,
    i: usize,
}

impl Parser {
    pub fn new(src: &str) -> Parser {
        Parser { t: lex(src), i: 0 }
    }
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn at(&self, k: usize) -> Option<&Tok> {
        self.t.get(self.i + k)
    }
    fn eat(&mut self, p: &str) {
        assert_eq!(
            self.peek(),
            Some(&Tok::P(leak(p))),
            "expected `{p}` at token {}",
            self.i
        );
        self.i += 1;
    }
    fn is(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::P(q)) if *q == p)
    }
    fn is_id(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Id(q)) if q == s)
    }

    /// An expression up to (not including) `;` `)` `]` `}` `,` `in` `then` `else` or the end.
    pub fn expr(&mut self) -> Expr {
        let mut items = Vec::new();
        loop {
            match self.peek() {
                None => break,
                Some(Tok::P(p)) if [";", ")", "]", "}", ","].contains(p) => break,
                Some(Tok::Id(s)) if ["in", "then", "else"].contains(&s.as_str()) => break,
                _ => {}
            }
            let term = self.term();
            let stop = matches!(term, Expr::Lambda(..));
            items.push(term);
            if stop {
                break;
            }
        }
        if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Expr::Seq(items)
        }
    }

    fn term(&mut self) -> Expr {
        let tok = self.peek().cloned().expect("term at end of input");
        match tok {
            Tok::P("{") if self.is_pattern() => {
                let names = self.pattern();
                Expr::Lambda(names, Box::new(self.expr()))
            }
            Tok::P("{") => self.set(),
            Tok::Id(ref s) if s == "rec" => {
                self.i += 1;
                self.set()
            }
            Tok::Id(ref s) if matches!(self.at(1), Some(Tok::P(":"))) && s != "or" => {
                self.i += 2;
                Expr::Lambda(vec![s.clone()], Box::new(self.expr()))
            }
            Tok::Id(ref s) if matches!(self.at(1), Some(Tok::P("@"))) => {
                self.i += 2;
                let names = self.pattern();
                Expr::Lambda(names, Box::new(self.expr()))
            }
            Tok::Id(ref s) if s == "let" => {
                self.i += 1;
                self.bindings("in");
                self.i += 1;
                self.expr()
            }
            Tok::Id(ref s) if s == "with" || s == "assert" => {
                self.i += 1;
                self.expr();
                self.eat(";");
                self.expr()
            }
            Tok::Id(ref s) if s == "if" => {
                self.i += 1;
                self.expr();
                self.i += 1; // then
                let a = self.expr();
                self.i += 1; // else
                let b = self.expr();
                Expr::Seq(vec![a, Expr::Op("if".into()), b])
            }
            Tok::Id(_) => self.select(),
            Tok::P("[") => {
                self.i += 1;
                let mut items = Vec::new();
                while !self.is("]") {
                    items.push(self.term());
                }
                self.i += 1;
                Expr::List(items)
            }
            Tok::P("(") => {
                self.i += 1;
                let e = self.expr();
                self.eat(")");
                self.selects();
                // Wrapped, so a parenthesised lambda does not end the enclosing expression.
                Expr::Seq(vec![e])
            }
            Tok::Str => {
                self.i += 1;
                self.selects();
                Expr::Opaque
            }
            Tok::P("?") => {
                // `set ? a.b`: the right side is an attribute path, not an expression.
                self.i += 1;
                self.attr_seg();
                self.selects();
                Expr::Op("?".into())
            }
            Tok::P(p) => {
                self.i += 1;
                Expr::Op(p.into())
            }
        }
    }

    fn select(&mut self) -> Expr {
        let mut path = vec![self.attr_seg()];
        while self.is(".") {
            self.i += 1;
            path.push(self.attr_seg());
        }
        if self.is_id("or") {
            self.i += 1;
            self.term();
        }
        Expr::Var(path)
    }

    fn selects(&mut self) {
        while self.is(".") {
            self.i += 1;
            self.attr_seg();
        }
    }

    fn attr_seg(&mut self) -> String {
        match self.peek().cloned() {
            Some(Tok::Id(s)) => {
                self.i += 1;
                s
            }
            Some(Tok::Str) => {
                self.i += 1;
                "<string>".into()
            }
            Some(Tok::P("${")) => {
                self.i += 1;
                self.expr();
                self.eat("}");
                "<dynamic>".into()
            }
            t => panic!("bad attribute name {t:?} at token {}", self.i),
        }
    }

    /// `{` starts a lambda pattern when its matching `}` is followed by `:` or `@`.
    fn is_pattern(&self) -> bool {
        let mut depth = 0;
        for (k, t) in self.t[self.i..].iter().enumerate() {
            match t {
                Tok::P("{") | Tok::P("${") => depth += 1,
                Tok::P("}") => {
                    depth -= 1;
                    if depth == 0 {
                        return matches!(self.at(k + 1), Some(Tok::P(":")) | Some(Tok::P("@")));
                    }
                }
                _ => {}
            }
        }
        false
    }

    fn pattern(&mut self) -> Vec<String> {
        self.eat("{");
        let mut names = Vec::new();
        while !self.is("}") {
            match self.peek().cloned() {
                Some(Tok::Id(s)) => {
                    names.push(s);
                    self.i += 1;
                    if self.is("?") {
                        self.i += 1;
                        self.expr();
                    }
                }
                _ => self.i += 1,
            }
        }
        self.i += 1;
        if self.is("@") {
            self.i += 2;
        }
        self.eat(":");
        names
    }

    fn set(&mut self) -> Expr {
        self.eat("{");
        let b = self.bindings("}");
        self.eat("}");
        self.selects();
        Expr::Set(b)
    }

    /// Bindings up to the token `end` (`}` or `in`); `inherit` entries become leaves.
    fn bindings(&mut self, end: &str) -> Vec<(Vec<String>, Expr)> {
        let mut out = Vec::new();
        loop {
            if self.is(end) || self.is_id(end) {
                return out;
            }
            if self.is_id("inherit") {
                self.i += 1;
                if self.is("(") {
                    self.term();
                }
                while !self.is(";") {
                    out.push((vec![self.attr_seg()], Expr::Opaque));
                }
                self.i += 1;
                continue;
            }
            let mut path = vec![self.attr_seg()];
            while self.is(".") {
                self.i += 1;
                path.push(self.attr_seg());
            }
            self.eat("=");
            let value = self.expr();
            self.eat(";");
            out.push((path, value));
        }
    }
}

fn leak(p: &str) -> &'static str {
    PUNCT.iter().find(|q| **q == p).copied().unwrap_or("?")
}
