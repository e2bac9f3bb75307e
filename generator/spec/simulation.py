"""The ``simulation`` section: synthetic traffic for ``obsgen simulate`` (every part optional).

```yaml
simulation:
  diurnal: {peak: "20:00", low: 0.2}              # traffic factor 1 at the peak, 0.2 twelve hours away
  populations:                                    # entities drawn once, reused by every context they open
    customer:
      size: 5000
      id: {field: customer_id, template: "customer-{n:05d}@sim.example"}
      fields: {region: {weights: {eu: 0.6, us: 0.4}}}
  roots:
    cart: {peak_per_s: 5, population: customer}   # contexts per second at the daily peak
  fields:                                         # `field` (every event) or `event.field`
    amount: {lognormal: {median: 40, sigma: 0.8}, min: 1, max: 5000, round: 2}
    latency_ms: [{when: {payment_method: card}, uniform: [50, 150]}, {uniform: [100, 400]}]
  steps:                                          # member events of a context, in order
    - {event: checkout, probability: 0.7}
    - {event: line, per: cart.items, limit: {uniform: [1, 3]}}
    - {event: order_placed, when: {payment.outcome: authorised}}
  incidents:                                      # `obsgen simulate --incident NAME`
    payment-outage: {description: ..., bad_fraction: {indicator: payment_success, value: 0.4},
                     fires: [ShopPaymentSuccessLow]}            # alerts it is expected to fire
  kill_switches:                                  # reactions while a switch is on
    disable_wallets: {fields: {payment_method: {value: card}}}
```

A value (``Dist``) is one of ``value``, ``choice``, ``weights``, ``uniform``, ``normal``, ``lognormal``,
``template``, ``sample`` (+ ``count``), ``copy``, ``age``, ``omit``, with ``min``, ``max``, ``round``,
``present`` (chance an optional field is there) and ``adjust`` (``times``, ``field``/``power``, ``plus``);
a list of them is cases, each with an optional ``when``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from obsgen import model as m
from obsgen.model import simulation as s
from obsgen.model.joins import Context
from obsgen.spec.reader import NAME, SLUG, Checker, too_wide, wide_problem
from obsgen.spec.source import Path_

KINDS = ("value", "choice", "weights", "uniform", "normal", "lognormal", "template", "sample", "copy", "age", "omit")
MODIFIERS = ("min", "max", "round", "present", "adjust")


class _Reader:
    """Reads the section against the spec's events and attributes, reporting through the ``Checker``."""

    def __init__(self, c: Checker, events: list[m.Event], attributes: dict[str, m.Attribute],
                 joins: list[Context], indicators: dict[str, m.Indicator], kill_switches: dict[str, str],
                 alerts: dict[str, m.Alert]) -> None:
        self.c = c
        self.events = {e.name: e for e in events}
        self.attributes = attributes
        self.joins = joins
        self.indicators = indicators
        self.kill_switches = kill_switches
        self.populations: dict[str, s.Population] = {}
        self.fields_anywhere = {f for e in events for f in e.fields}
        self.fields_of = {e.name: e.fields for e in events}
        self.alerts = alerts
        self.skipped_steps: set[str] = set()
        """Steps left unchecked because their context has errors: incidents may still name them."""
        self.fields_known = not c.has_errors("events")
        """Whether every event's fields are known: else "not a field" errors may follow from the events' errors."""

    # -- values ------------------------------------------------------------------------------------------------

    def cases(self, raw: Any, p: Path_, attribute: str | None, with_when: bool = True) -> s.Cases:
        if isinstance(raw, list):
            out = []
            for i, item in enumerate(raw):
                case = self.case(item, p + (i,), attribute, with_when)
                if case is not None:
                    out.append(case)
            return tuple(out)
        case = self.case(raw, p, attribute, with_when)
        return (case,) if case is not None else ()

    def case(self, raw: Any, p: Path_, attribute: str | None, with_when: bool) -> s.Case | None:
        if not isinstance(raw, dict):
            self.c.error(p, "expected a value spec (a mapping such as `{value: 3}`)",
                         f"write one of: {', '.join(KINDS)}")
            return None
        when = self.conditions(raw["when"], p + ("when",)) if with_when and "when" in raw else ()
        rest = {k: v for k, v in raw.items() if not (with_when and k == "when")}
        dist = self.dist(rest, p, attribute)
        return s.Case(dist, when) if dist is not None else None

    def dist(self, raw: Any, p: Path_, attribute: str | None) -> s.Dist | None:
        c = self.c
        d = c.mapping(raw, p, optional=(*KINDS, "count", *MODIFIERS))
        if d is None:
            return None
        kinds = [k for k in KINDS if k in d]
        if len(kinds) > 1:
            c.error(p, f"a value spec takes one of {', '.join(KINDS)}; got {', '.join(kinds)}", "keep one of them")
            return None
        kind = self.kind(kinds[0], d, p, attribute) if kinds else s.Derived()  # `{}`: the derived default
        if kind is None:
            return None
        if "count" in d and not isinstance(kind, s.Sample):
            c.error(p + ("count",), "`count` belongs to `sample`", "remove it or add `sample: POPULATION`")
        bounds = {k: self.number(d[k], p + (k,)) for k in ("min", "max", "present") if k in d}
        if "present" in d and not 0 <= (bounds["present"] or 0) <= 1:
            c.error(p + ("present",), "`present` is a chance between 0 and 1", "write e.g. `present: 0.3`")
        rounding = d.get("round")
        if rounding is not None and (isinstance(rounding, bool) or not isinstance(rounding, int) or rounding < 0):
            c.error(p + ("round",), "`round` is a number of decimal places", "write e.g. `round: 2`")
            rounding = None
        adjust: list[s.Adjust] = []
        if "adjust" in d:
            if not isinstance(d["adjust"], list):
                c.error(p + ("adjust",), "expected a list of adjustments", "write e.g. `adjust: [{times: 2}]`")
            else:
                adjust = [a for i, item in enumerate(d["adjust"]) if (a := self.adjust(item, p + ("adjust", i)))]
        present = bounds.get("present")
        return s.Dist(kind, minimum=bounds.get("min"), maximum=bounds.get("max"), round=rounding,
                      present=present if present is not None else 1.0, adjust=tuple(adjust))

    def kind(self, name: str, d: dict[str, Any], p: Path_, attribute: str | None) -> s.Kind | None:
        c, raw, kp = self.c, d[name], p + (name,)
        if name == "value":
            self.allowed(raw, kp, attribute)
            return s.Const(raw)
        if name == "choice":
            if not isinstance(raw, list) or not raw:
                c.error(kp, "expected a non-empty list of values", "write e.g. `choice: [a, b]`")
                return None
            for i, v in enumerate(raw):
                self.allowed(v, kp + (i,), attribute)
            return s.Choice(tuple(raw), (1.0,) * len(raw))
        if name == "weights":
            if c.mapping(raw, kp) is None or not raw:
                c.error(kp, "expected value: weight pairs", "write e.g. `weights: {a: 0.7, b: 0.3}`")
                return None
            weights = []
            for key, w in raw.items():
                self.allowed(key, kp + (key,), attribute)
                weights.append(self.number(w, kp + (key,), positive=True) or 0.0)
            return s.Choice(tuple(raw), tuple(weights))
        if name == "uniform":
            if not (isinstance(raw, list) and len(raw) == 2):
                c.error(kp, "expected [low, high]", "write e.g. `uniform: [1, 5]`")
                return None
            low, high = (self.number(v, kp + (i,)) for i, v in enumerate(raw))
            if low is None or high is None:
                return None
            if low > high:
                c.error(kp, f"low {low:g} is above high {high:g}", "write [low, high]")
            integer = all(isinstance(v, int) for v in raw) and (
                attribute is None or self.attributes[attribute].type != "number")
            return s.Uniform(low, high, integer)
        if name in ("normal", "lognormal"):
            keys = ("mean", "sd") if name == "normal" else ("median", "sigma")
            dd = c.mapping(raw, kp, required=keys)
            if dd is None or any(k not in dd for k in keys):
                return None
            a, b = (self.number(dd[k], kp + (k,)) for k in keys)
            if a is None or b is None:
                return None
            if b < 0 or (name == "lognormal" and a <= 0):
                c.error(kp, f"{' and '.join(keys)} out of range", f"use a positive {keys[1]}"
                        + (" and median" if name == "lognormal" else ""))
                return None
            return s.Normal(a, b) if name == "normal" else s.LogNormal(a, b)
        if name == "template":
            if c.string(raw, kp) is None:
                return None
            try:
                if not self.narrow(raw, kp):
                    return None
            except ValueError as exc:
                c.error(kp, f"the template does not format ({exc})", "write fields as {name}; double a literal brace")
                return None
            return s.Template(raw)
        if name == "sample":
            if c.reference(raw, kp, self.populations, "simulation.populations", "a population") is None:
                return None
            count = self.dist(d["count"], p + ("count",), None) if "count" in d else s.Dist(s.Const(1))
            return s.Sample(raw, count) if count is not None else None
        if name == "copy":
            if raw not in self.fields_anywhere and self.fields_known:
                c.error(kp, f"`{raw}` is not a field of any event", "name a field the context has")
                return None
            return s.Copy(raw)
        if name == "age":
            dd = c.mapping(raw, kp, required=("start",), optional=("every", "offset"))
            if dd is None or "start" not in dd:
                return None
            start, every, offset = (self.number(dd[k], kp + (k,)) if k in dd else None
                                    for k in ("start", "every", "offset"))
            if start is None:
                return None
            return s.Age(start, every, offset or 0.0)
        if raw is not True:
            c.error(kp, "`omit` takes true", "write `omit: true`")
        return s.Omit()

    def allowed(self, value: Any, p: Path_, attribute: str | None) -> None:
        """An enum field only takes its declared values."""
        enum = self.attributes[attribute].enum if attribute is not None else None
        if enum and value not in enum:
            self.c.error(p, f"`{value}` is not a value of `{attribute}`", f"use one of: {', '.join(enum)}")

    def number(self, raw: Any, p: Path_, positive: bool = False) -> float | None:
        n = self.c.number(raw, p)
        if n is None:
            return None
        if positive and n < 0:
            self.c.error(p, f"{raw} is negative", "use a weight of 0 or more")
        return float(n)

    def chance(self, raw: Any, p: Path_) -> s.Dist | None:
        """A probability: a number, or a value spec (``{value: 0.06, adjust: [...]}``)."""
        if isinstance(raw, dict):
            return self.dist(raw, p, None)
        n = self.number(raw, p)
        return s.Dist(s.Const(n)) if n is not None else None

    def adjust(self, raw: Any, p: Path_) -> s.Adjust | None:
        d = self.c.mapping(raw, p, optional=("when", "probability", "times", "field", "power", "plus"))
        if d is None:
            return None
        if not {"times", "field", "plus"} & d.keys():
            self.c.error(p, "an adjustment needs `times`, `field` (with `power`) or `plus`", "add one of them")
            return None
        field = d.get("field")
        if field is not None and field not in self.fields_anywhere and self.fields_known:
            self.c.error(p + ("field",), f"`{field}` is not a field of any event", "name a numeric field")
            field = None
        plus = self.dist(d["plus"], p + ("plus",), None) if "plus" in d else None
        return s.Adjust(when=self.conditions(d["when"], p + ("when",)) if "when" in d else (),
                        probability=self.number(d["probability"], p + ("probability",)) or 0.0
                        if "probability" in d else 1.0,
                        times=self.number(d["times"], p + ("times",)) if "times" in d else None,
                        field=field, power=self.number(d.get("power", 1), p + ("power",)) or 0.0, plus=plus)

    def conditions(self, raw: Any, p: Path_) -> tuple[s.Condition, ...]:
        if self.c.mapping(raw, p) is None:
            return ()
        out = []
        for key, values in raw.items():
            event, field = self.field_key(key, p + (key,))
            if field is None:
                continue
            values = tuple(values) if isinstance(values, list) else (values,)
            for v in values:
                self.allowed(v, p + (key,), field)
            out.append(s.Condition(field, values, event))
        return tuple(out)

    def field_key(self, key: Any, p: Path_) -> tuple[str | None, str | None]:
        """``field`` or ``event.field``, checked against the spec (attribute names may hold dots)."""
        if not isinstance(key, str):
            self.c.error(p, "expected a field name", "write `field` or `event.field`")
            return None, None
        event, field = s.split_field_key(key, self.fields_of)
        if event is None and field not in self.fields_anywhere:
            if not self.fields_known:
                return None, None
            prefix, dot, _ = key.partition(".")
            if dot and prefix in self.events:
                self.c.error(p, f"`{key[len(prefix) + 1:]}` is not a field of event `{prefix}`",
                             f"use one of: {', '.join(self.events[prefix].fields)}")
            else:
                self.c.error(p, f"`{key}` is not a field of any event", "name a field an event declares")
            return None, None
        return event, field

    def field_specs(self, raw: Any, p: Path_) -> dict[str, s.Cases]:
        out: dict[str, s.Cases] = {}
        if self.c.mapping(raw, p) is None:
            return out
        for key, spec in raw.items():
            _, field = self.field_key(key, p + (key,))
            if field is not None:
                out[key] = self.cases(spec, p + (key,), field)
        return out

    # -- the parts ---------------------------------------------------------------------------------------------

    def diurnal(self, raw: Any, p: Path_) -> s.Diurnal:
        d = self.c.mapping(raw, p, optional=("peak", "low"))
        if d is None:
            return s.Diurnal()
        peak = 20 * 60.0
        if "peak" in d:
            text = d["peak"]
            hours, _, minutes = str(text).partition(":")
            if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
                self.c.error(p + ("peak",), f"`{text}` is not a time of day", 'write "HH:MM" (UTC), e.g. "20:00"')
            else:
                peak = int(hours) * 60.0 + int(minutes)
        low = self.number(d["low"], p + ("low",)) if "low" in d else 1.0
        if low is not None and not 0 <= low <= 1:
            self.c.error(p + ("low",), "`low` is the traffic factor at the quietest hour", "use 0 to 1")
        return s.Diurnal(peak, low if low is not None else 1.0)

    def population(self, name: str, raw: Any, p: Path_) -> s.Population | None:
        c = self.c
        d = c.mapping(raw, p, required=("size", "id"), optional=("fields", "activity", "session"))
        if d is None or c.string(name, p, NAME, "population name") is None or not {"size", "id"} <= d.keys():
            return None
        size = c.number(d["size"], p + ("size",), minimum=Decimal(1))
        ident = c.mapping(d["id"], p + ("id",), required=("field", "template"))
        if size is None or ident is None or not {"field", "template"} <= ident.keys():
            return None
        id_field = self.field_key(ident["field"], p + ("id", "field"))[1]
        template = self.template(ident["template"], p + ("id", "template"), n=0, seed=1)
        session = None
        if "session" in d:
            sd = c.mapping(d["session"], p + ("session",), required=("field", "template"), optional=("end", "open"))
            if sd is not None and {"field", "template"} <= sd.keys():
                sfield = self.field_key(sd["field"], p + ("session", "field"))[1]
                stemplate = self.template(sd["template"], p + ("session", "template"), n=0, seed=1, session=1)
                end = self.number(sd.get("end", 0.3), p + ("session", "end"))
                opened = c.number(sd.get("open", 100), p + ("session", "open"), minimum=Decimal(1))
                if sfield and stemplate and end is not None and opened is not None:
                    session = s.Session(sfield, stemplate, end, int(opened))
        if id_field is None or template is None:
            return None
        return s.Population(name, int(size), id_field, template, fields=self.field_specs(d.get("fields", {}),
                                                                                        p + ("fields",)),
                            activity=self.cases(d["activity"], p + ("activity",), None) if "activity" in d else (),
                            session=session)

    def narrow(self, raw: str, p: Path_) -> bool:
        """Whether no field of the template is ``too_wide``; ``ValueError`` if it does not parse."""
        if (spec := too_wide(raw)) is not None:
            self.c.error(p, *wide_problem(spec))
        return spec is None

    def template(self, raw: Any, p: Path_, **names: Any) -> str | None:
        if self.c.string(raw, p) is None:
            return None
        try:
            if not self.narrow(raw, p):
                return None
            raw.format(**names)
        except (KeyError, IndexError, ValueError) as exc:
            self.c.error(p, f"the template does not format ({exc})",
                         f"use only {', '.join('{' + n + '}' for n in names)} and valid format specs")
            return None
        return str(raw)

    def roots(self, raw: Any, p: Path_) -> list[s.Root]:
        out: list[s.Root] = []
        if self.c.mapping(raw, p) is None:
            return out
        members = {e for ctx in self.joins for e in ctx.members}
        for name, spec in raw.items():
            rp = p + (name,)
            if self.c.reference(name, rp, self.events, "events", "an event") is None:
                continue
            if name in members:
                self.c.error(rp, f"`{name}` is a member of a context, made by its root's steps",
                             "list root events (or events outside any context) here")
                continue
            d = self.c.mapping(spec, rp, optional=("peak_per_s", "population"))
            if d is None:
                continue
            rate = self.number(d.get("peak_per_s", 1.0), rp + ("peak_per_s",), positive=True)
            population = d.get("population")
            if population is not None and self.c.reference(population, rp + ("population",), self.populations,
                                                           "simulation.populations", "a population") is None:
                population = None
            out.append(s.Root(name, rate if rate is not None else 1.0, population))
        return out

    def steps(self, raw: Any, p: Path_) -> list[s.Step]:
        out: list[s.Step] = []
        if not isinstance(raw, list):
            self.c.error(p, "expected a list of steps", "write `steps: [{event: NAME}, ...]`")
            return out
        context_of = {e: ctx for ctx in self.joins for e in ctx.members}
        names: set[str] = set()
        for i, spec in enumerate(raw):
            sp = p + (i,)
            d = self.c.mapping(spec, sp, required=("event",), optional=(
                "name", "count", "probability", "per", "limit", "when", "fields", "ends_context"))
            if d is None or "event" not in d:
                continue
            event = d["event"]
            if self.c.reference(event, sp + ("event",), self.events, "events", "an event") is None:
                continue
            ctx = context_of.get(event)
            if ctx is None and self.c.has_errors("joins"):
                self.skipped_steps.add(str(d.get("name", event)))  # its context may be the one with errors
                continue
            if ctx is None:
                self.c.error(sp + ("event",), f"`{event}` is not a member of any context in `joins`",
                             "steps make member events; list a root or standalone event under `roots`")
                continue
            name = d.get("name", event)
            if self.c.string(name, sp + ("name",), NAME, "step name") is None:
                continue
            if name in names:
                self.c.error(sp + ("name",), f"step `{name}` is named twice", "give each step its own `name`")
            names.add(name)
            per, per_field = self.per(d.get("per"), sp + ("per",), ctx)
            count = self.dist(d["count"], sp + ("count",), None) if "count" in d else None
            probability = self.chance(d["probability"], sp + ("probability",)) if "probability" in d else None
            ends = self.c.boolean(d["ends_context"], sp + ("ends_context",)) if "ends_context" in d else False
            out.append(s.Step(
                name, event, count=count or s.Dist(s.Const(1)), probability=probability or s.Dist(s.Const(1.0)),
                per=per, per_field=per_field,
                limit=self.cases(d["limit"], sp + ("limit",), None) if "limit" in d else (),
                when=self.conditions(d["when"], sp + ("when",)) if "when" in d else (),
                fields=self.field_specs(d.get("fields", {}), sp + ("fields",)), ends_context=bool(ends)))
        return out

    def per(self, raw: Any, p: Path_, ctx: Context) -> tuple[str | None, str | None]:
        if raw is None:
            return None, None
        event, _, field = str(raw).partition(".")
        if event not in (ctx.root, *ctx.members):
            self.c.error(p, f"`{event}` is not an event of context `{ctx.name}`",
                         f"use one of: {', '.join((ctx.root, *ctx.members))} (or `event.array_field`)")
            return None, None
        if field and (field not in self.events[event].fields or self.attributes[field].type != "array"):
            self.c.error(p, f"`{field}` is not an array field of `{event}`", "name an array field, or only the event")
            return None, None
        return event, field or None

    def override(self, name: str, raw: Any, p: Path_, steps: set[str], incident: bool) -> s.Override | None:
        c = self.c
        optional = ("when", "share", "fields", "steps", "scale", "add", "stop", "bad_fraction")
        d = c.mapping(raw, p, optional=("description", "fires", *optional) if incident else optional)
        if d is None:
            return None
        share = self.number(d.get("share", 1.0), p + ("share",))
        numbers = {}
        for key in ("scale", "add"):
            numbers[key] = {}
            if key in d and c.mapping(d[key], p + (key,)) is not None:
                for field_key, value in d[key].items():
                    if self.field_key(field_key, p + (key, field_key))[1] is not None:
                        n = self.number(value, p + (key, field_key))
                        if n is not None:
                            numbers[key][field_key] = n
        stop = []
        for i, event in enumerate(c.string_list(d.get("stop", []), p + ("stop",))):
            if c.reference(event, p + ("stop", i), self.events, "events", "an event") is not None:
                stop.append(event)
        bad = None
        if "bad_fraction" in d:
            bd = c.mapping(d["bad_fraction"], p + ("bad_fraction",), required=("indicator", "value"))
            if bd is not None and {"indicator", "value"} <= bd.keys():
                indicator = c.reference(bd["indicator"], p + ("bad_fraction", "indicator"), self.indicators,
                                        "indicators", "an indicator")
                value = self.number(bd["value"], p + ("bad_fraction", "value"))
                if indicator is not None and not _ratio_over_one_event(self.indicators[indicator]):
                    c.error(p + ("bad_fraction", "indicator"),
                            f"`{indicator}` is not a ratio whose numerator selects some of its denominator's events",
                            "name such a ratio indicator, or change `fields` directly")
                elif indicator is not None and value is not None:
                    bad = s.BadFraction(indicator, value)
        fires = []
        for i, alert in enumerate(c.string_list(d.get("fires", []), p + ("fires",))):
            if c.reference(alert, p + ("fires", i), self.alerts, "alerts", "an alert") is not None:
                fires.append(alert)
        step_probabilities = {}
        if isinstance(d.get("steps"), dict):
            for step, spec in d["steps"].items():
                if c.reference(step, p + ("steps", step), steps, "simulation.steps", "a step") is None:
                    continue
                dist = self.chance(spec, p + ("steps", step))
                if dist is not None:
                    step_probabilities[step] = dist
        elif "steps" in d:
            c.error(p + ("steps",), "expected step: probability spec pairs", "write `steps: {name: {value: 0.2}}`")
        return s.Override(
            name, description=c.text(d.get("description", ""), p + ("description",)),
            when=self.conditions(d["when"], p + ("when",)) if "when" in d else (),
            share=share if share is not None else 1.0, fields=self.field_specs(d.get("fields", {}), p + ("fields",)),
            steps=step_probabilities, scale=numbers["scale"], add=numbers["add"], stop=tuple(stop), bad_fraction=bad,
            fires=tuple(fires))


def _ratio_over_one_event(indicator: m.Indicator) -> bool:
    """A ratio whose numerator is its denominator's metric narrowed by label matchers (hits / lookups)."""
    if not isinstance(indicator, m.Ratio) or len(indicator.numerators) != 1 or len(indicator.denominators) != 1:
        return False
    (num,), (den,) = indicator.numerators, indicator.denominators
    return bool(num.where) and num.metric.event == den.metric.event and not den.where


def parse_simulation(c: Checker, raw: Any, events: list[m.Event], attributes: dict[str, m.Attribute],
                     joins: list[Context], indicators: dict[str, m.Indicator],
                     kill_switches: dict[str, str], alerts: dict[str, m.Alert]) -> s.Simulation:
    p: Path_ = ("simulation",)
    if raw is None:
        return s.Simulation()
    d = c.mapping(raw, p, optional=("diurnal", "populations", "roots", "fields", "steps", "incidents",
                                    "kill_switches"))
    if d is None:
        return s.Simulation()
    r = _Reader(c, events, attributes, joins, indicators, kill_switches, alerts)
    diurnal = r.diurnal(d["diurnal"], p + ("diurnal",)) if "diurnal" in d else s.Diurnal()
    if "populations" in d and c.mapping(d["populations"], p + ("populations",)) is not None:
        for name in d["populations"]:  # names first: a population's fields may sample another one
            r.populations[name] = s.Population(name, 1, "", "")
        for name, spec in d["populations"].items():
            population = r.population(name, spec, p + ("populations", name))
            if population is None:
                del r.populations[name]
            else:
                r.populations[name] = population
        c.mark_broken("a population", d["populations"], r.populations)
    roots = r.roots(d.get("roots", {}), p + ("roots",))
    fields = r.field_specs(d.get("fields", {}), p + ("fields",))
    steps = r.steps(d.get("steps", []), p + ("steps",))
    step_names = {st.name for st in steps} | {e for ctx in joins for e in ctx.members} | r.skipped_steps
    incidents = []
    if "incidents" in d and c.mapping(d["incidents"], p + ("incidents",)) is not None:
        for name, spec in d["incidents"].items():
            ip = p + ("incidents", name)
            if c.string(name, ip, SLUG, "incident name (lower-case words joined by -)") is not None:
                incident = r.override(name, spec, ip, step_names, incident=True)
                if incident is not None:
                    incidents.append(incident)
    reactions = []
    if "kill_switches" in d and c.mapping(d["kill_switches"], p + ("kill_switches",)) is not None:
        for name, spec in d["kill_switches"].items():
            kp = p + ("kill_switches", name)
            if c.reference(name, kp, kill_switches, "kill_switches", "a kill-switch") is not None:
                reaction = r.override(name, spec, kp, step_names, incident=False)
                if reaction is not None:
                    reactions.append(reaction)
    return s.Simulation(declared=True, diurnal=diurnal, populations=tuple(r.populations.values()),
                        roots=tuple(roots), steps=tuple(steps), fields=m.frozen_map(fields),
                        incidents=tuple(incidents), kill_switches=tuple(reactions))
