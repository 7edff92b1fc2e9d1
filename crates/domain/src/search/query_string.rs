//! FusionAuth's `queryString`, Lucene's syntax over the user fields search knows: `field:value`
//! terms, `*` for every user, `*` wildcards in text values, quoted phrases, ranges on instants
//! (`[A TO B]`, `{A TO B}`, `>T`, `<=T`), `AND`, `OR`, `NOT`, `-term`, parentheses. `AND`
//! binds tighter than `OR`; terms side by side are joined by `AND`, so a query never widens
//! by a forgotten operator. Anything else is an error naming the term, never "match all".

use super::{term_pred, Field, Kind, Pred, QueryError};

/// The predicate of a query string.
pub fn parse(q: &str) -> Result<Pred, QueryError> {
    let mut p = Parser {
        s: q,
        chars: q.char_indices().collect(),
        i: 0,
        depth: 0,
    };
    let pred = p.or()?;
    p.ws();
    if p.i < p.chars.len() {
        return Err(QueryError::new(
            p.rest_word(),
            "is not expected here (an unmatched parenthesis?)",
        ));
    }
    Ok(pred)
}

struct Parser<'a> {
    s: &'a str,
    chars: Vec<(usize, char)>,
    i: usize,
    depth: usize,
}

/// Deepest nesting of parentheses and `NOT`s accepted: the parser recurses.
const MAX_DEPTH: usize = 64;

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).map(|&(_, c)| c)
    }

    fn pos(&self) -> usize {
        self.chars.get(self.i).map_or(self.s.len(), |&(p, _)| p)
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }

    /// The text from here to the next space, for error messages.
    fn rest_word(&self) -> String {
        self.s[self.pos()..]
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string()
    }

    /// Whether the input continues with the operator `word` standing alone.
    fn at_keyword(&self, word: &str) -> bool {
        let rest = &self.s[self.pos()..];
        rest.starts_with(word)
            && rest[word.len()..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '(')
    }

    fn skip(&mut self, n: usize) {
        self.i += n;
    }

    fn or(&mut self) -> Result<Pred, QueryError> {
        let mut parts = vec![self.and()?];
        loop {
            self.ws();
            if self.at_keyword("OR") || self.at_keyword("||") {
                self.skip(2);
                parts.push(self.and()?);
            } else {
                break;
            }
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            Pred::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Pred, QueryError> {
        let mut parts = vec![self.unary()?];
        loop {
            self.ws();
            match self.peek() {
                None | Some(')') => break,
                _ if self.at_keyword("OR") || self.at_keyword("||") => break,
                _ => {}
            }
            if self.at_keyword("AND") {
                self.skip(3);
            } else if self.at_keyword("&&") {
                self.skip(2);
            }
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            Pred::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Pred, QueryError> {
        self.ws();
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::new(
                self.rest_word(),
                "nests deeper than 64 levels",
            ));
        }
        let p = if self.at_keyword("NOT") {
            self.skip(3);
            Pred::Not(Box::new(self.unary()?))
        } else if self.peek() == Some('-') || self.peek() == Some('!') {
            self.skip(1);
            Pred::Not(Box::new(self.unary()?))
        } else if self.peek() == Some('+') {
            self.skip(1);
            self.unary()?
        } else {
            self.primary()?
        };
        self.depth -= 1;
        Ok(p)
    }

    fn primary(&mut self) -> Result<Pred, QueryError> {
        self.ws();
        match self.peek() {
            None => {
                let last = self.s.split_whitespace().last().unwrap_or("");
                Err(QueryError::new(last, "is missing what follows it"))
            }
            Some('(') => {
                let start = self.rest_word();
                self.skip(1);
                let p = self.or()?;
                self.ws();
                if self.peek() != Some(')') {
                    return Err(QueryError::new(
                        start,
                        "opens a parenthesis that is never closed",
                    ));
                }
                self.skip(1);
                Ok(p)
            }
            Some(')') => Err(QueryError::new(
                ")",
                "closes a parenthesis that was never opened",
            )),
            Some('*')
                if self
                    .chars
                    .get(self.i + 1)
                    .is_none_or(|&(_, c)| c.is_whitespace() || c == ')') =>
            {
                self.skip(1);
                Ok(Pred::All)
            }
            Some(_) => self.term(),
        }
    }

    fn term(&mut self) -> Result<Pred, QueryError> {
        let start = self.pos();
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c == ':' || c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                break;
            }
            name.push(c);
            self.i += 1;
        }
        if self.peek() != Some(':') {
            let word = self.rest_word();
            let term = if name.is_empty() { word } else { name };
            return Err(QueryError::new(
                term,
                "is not of the form field:value (a free-text term; name the field, e.g. email:..., or * for all)",
            ));
        }
        self.skip(1);
        let field = Field::named(&name).ok_or_else(|| {
            QueryError::new(
                format!("{name}:{}", self.rest_word()),
                format!("names the field [{name}], which search does not know"),
            )
        })?;
        match self.peek() {
            Some('"') => {
                self.skip(1);
                let mut v = String::new();
                loop {
                    match self.peek() {
                        None => {
                            return Err(QueryError::new(
                                &self.s[start..],
                                "opens a quoted phrase that is never closed",
                            ))
                        }
                        Some('"') => {
                            self.skip(1);
                            break;
                        }
                        Some('\\') => {
                            self.skip(1);
                            if let Some(c) = self.peek() {
                                v.push(c);
                                self.skip(1);
                            }
                        }
                        Some(c) => {
                            v.push(c);
                            self.skip(1);
                        }
                    }
                }
                let term = &self.s[start..self.pos()];
                term_pred(field, &v, term, false)
            }
            Some('[') | Some('{') => self.range(field, start),
            Some('>') | Some('<') => {
                let lt = self.peek() == Some('<');
                self.skip(1);
                let eq = self.peek() == Some('=');
                if eq {
                    self.skip(1);
                }
                let (v, _) = self.word();
                let term = self.s[start..self.pos()].to_string();
                let t = instant_bound(&field, &v, &term)?;
                Ok(match (lt, eq) {
                    (true, true) => Pred::Range(field, None, Some(t)),
                    (true, false) => Pred::Range(field, None, Some(t.saturating_sub(1))),
                    (false, true) => Pred::Range(field, Some(t), None),
                    (false, false) => Pred::Range(field, Some(t.saturating_add(1)), None),
                })
            }
            _ => {
                let (v, wild) = self.word();
                let term = self.s[start..self.pos()].to_string();
                if v.is_empty() {
                    return Err(QueryError::new(term, "has no value"));
                }
                if !wild && v.contains('*') {
                    // Every `*` was escaped: a literal asterisk.
                    return term_pred(field, &v, &term, false);
                }
                term_pred(field, &v, &term, wild)
            }
        }
    }

    /// A bare value up to the next space or parenthesis, with `\` escapes; whether it holds an
    /// unescaped `*`.
    fn word(&mut self) -> (String, bool) {
        let mut v = String::new();
        let mut wild = false;
        let mut escaped_star = false;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c == '(' || c == ')' {
                break;
            }
            self.skip(1);
            if c == '\\' {
                if let Some(n) = self.peek() {
                    escaped_star |= n == '*';
                    v.push(n);
                    self.skip(1);
                }
                continue;
            }
            wild |= c == '*';
            v.push(c);
        }
        // A value mixing escaped and unescaped stars would need both meanings at once.
        (v, wild && !escaped_star)
    }

    fn range(&mut self, field: Field, start: usize) -> Result<Pred, QueryError> {
        let open_inclusive = self.peek() == Some('[');
        self.skip(1);
        let mut body = String::new();
        let close;
        loop {
            match self.peek() {
                None => {
                    return Err(QueryError::new(
                        &self.s[start..],
                        "opens a range that is never closed",
                    ))
                }
                Some(c @ (']' | '}')) => {
                    close = c;
                    self.skip(1);
                    break;
                }
                Some(c) => {
                    body.push(c);
                    self.skip(1);
                }
            }
        }
        let term = self.s[start..self.pos()].to_string();
        let parts: Vec<&str> = body.split_whitespace().collect();
        let [from, to] = match parts.as_slice() {
            [a, "TO", b] => [*a, *b],
            _ => return Err(QueryError::new(term, "is not a range of the form [A TO B]")),
        };
        let bound = |v: &str| -> Result<Option<i64>, QueryError> {
            if v == "*" {
                Ok(None)
            } else {
                instant_bound(&field, v, &term).map(Some)
            }
        };
        let mut lo = bound(from)?;
        let mut hi = bound(to)?;
        if !open_inclusive {
            lo = lo.map(|v| v.saturating_add(1));
        }
        if close == '}' {
            hi = hi.map(|v| v.saturating_sub(1));
        }
        Ok(Pred::Range(field, lo, hi))
    }
}

fn instant_bound(field: &Field, v: &str, term: &str) -> Result<i64, QueryError> {
    if field.kind() != Kind::Instant {
        return Err(QueryError::new(
            term,
            "compares with a range, which only insertInstant, lastUpdateInstant and lastLoginInstant take",
        ));
    }
    super::instant(v).ok_or_else(|| {
        QueryError::new(
            term,
            format!("has [{v}], which is neither epoch milliseconds nor an ISO-8601 instant"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Field::*;
    use Pred::*;

    fn eq(f: Field, v: &str) -> Pred {
        Eq(f, v.into())
    }

    #[test]
    fn terms_fields_and_values() {
        assert_eq!(parse("*").unwrap(), All);
        assert_eq!(
            parse("email:Ann@Example.com").unwrap(),
            eq(Email, "ann@example.com")
        );
        assert_eq!(
            parse("email:*@example.com").unwrap(),
            Like(Email, "*@example.com".into())
        );
        assert_eq!(parse("connectorId:*").unwrap(), Exists(ConnectorId));
        assert_eq!(
            parse("fullName:\"Ann Lee\"").unwrap(),
            eq(FullName, "ann lee")
        );
        assert_eq!(parse("active:TRUE").unwrap(), eq(Active, "true"));
        assert_eq!(
            parse("data.source.system:legacy").unwrap(),
            eq(Data(vec!["source".into(), "system".into()]), "legacy")
        );
        assert_eq!(
            parse("registrations.roles:admin").unwrap(),
            eq(RegistrationRole, "admin")
        );
        assert_eq!(
            parse("mobilePhone:555\\*1").unwrap(),
            eq(MobilePhone, "555*1")
        );
        let t = "6f2c3c1e-6a4e-4d8e-9d3e-1c2b3a4d5e6f";
        assert_eq!(parse(&format!("tenantId:{t}")).unwrap(), eq(TenantId, t));
    }

    #[test]
    fn ranges_on_instants() {
        assert_eq!(
            parse("insertInstant:[10 TO 20]").unwrap(),
            Range(InsertInstant, Some(10), Some(20))
        );
        assert_eq!(
            parse("insertInstant:{10 TO 20}").unwrap(),
            Range(InsertInstant, Some(11), Some(19))
        );
        assert_eq!(
            parse("lastLoginInstant:[* TO 1970-01-01]").unwrap(),
            Range(LastLoginInstant, None, Some(0))
        );
        assert_eq!(
            parse("lastUpdateInstant:>5").unwrap(),
            Range(LastUpdateInstant, Some(6), None)
        );
        assert_eq!(
            parse("lastUpdateInstant:>=5").unwrap(),
            Range(LastUpdateInstant, Some(5), None)
        );
        assert_eq!(
            parse("lastLoginInstant:<5").unwrap(),
            Range(LastLoginInstant, None, Some(4))
        );
        assert_eq!(
            parse("insertInstant:7").unwrap(),
            Range(InsertInstant, Some(7), Some(7))
        );
    }

    #[test]
    fn operators_and_precedence() {
        let a = || eq(Username, "a");
        let b = || eq(Username, "b");
        let c = || eq(Username, "c");
        assert_eq!(
            parse("username:a OR username:b AND username:c").unwrap(),
            Or(vec![a(), And(vec![b(), c()])])
        );
        assert_eq!(
            parse("(username:a OR username:b) username:c").unwrap(),
            And(vec![Or(vec![a(), b()]), c()])
        );
        assert_eq!(
            parse("username:a AND NOT username:b -username:c").unwrap(),
            And(vec![a(), Not(Box::new(b())), Not(Box::new(c()))])
        );
        assert_eq!(parse("NOT(username:a)").unwrap(), Not(Box::new(a())));
    }

    #[test]
    fn errors_name_the_term() {
        for (q, term) in [
            ("firstNam:x", "firstNam:x"),
            ("ann", "ann"),
            ("email:a OR", "OR"),
            ("(email:a", "(email:a"),
            ("email:a)", ")"),
            ("email:\"open", "email:\"open"),
            ("active:maybe", "active:maybe"),
            ("tenantId:nope", "tenantId:nope"),
            ("email:[a TO b]", "email:[a TO b]"),
            ("insertInstant:[1 TO]", "insertInstant:[1 TO]"),
            ("insertInstant:>yesterday", "insertInstant:>yesterday"),
            ("tenantId:abc*", "tenantId:abc*"),
            ("data.a'b:1", "data.a'b:1"),
            ("data.:1", "data.:1"),
            ("email:", "email:"),
        ] {
            let e = parse(q).expect_err(q);
            assert_eq!(e.term, term, "{q}: {e:?}");
        }
        let deep = "(".repeat(100) + "email:a" + &")".repeat(100);
        assert!(parse(&deep).is_err());
    }
}
