"""The ``routing`` section: Alertmanager routes per severity and receivers."""

from __future__ import annotations

from typing import Any

from obsgen import model as m
from obsgen.spec.reader import MISSING, Checker


def parse_routing(c: Checker, raw: Any) -> m.Routing | None:
    p = ("routing",)
    if raw is MISSING:
        return None  # already reported as a missing key
    d = c.mapping(raw, p, required=("group_by", "severities", "receivers", "kill_switch_webhook"))
    if d is None:
        return None
    group_by = c.string_list(d.get("group_by", []), p + ("group_by",), allow_empty=False)
    receivers: list[m.Receiver] = []
    if c.mapping(d.get("receivers"), p + ("receivers",)) is not None:
        for name, spec in d["receivers"].items():
            rp = p + ("receivers", name)
            if c.string(name, rp, r"[a-z][a-z0-9-]*", "receiver name"):
                receiver = _receiver(c, name, spec, rp, token_required=False)
                if receiver:
                    receivers.append(receiver)
    routes: list[m.SeverityRoute] = []
    sev = d.get("severities")
    if c.mapping(sev, p + ("severities",)) is not None:
        for severity in m.SEVERITIES:
            if severity not in sev:
                c.error(p + ("severities",), f"no route for {severity}", f"add `{severity}:` with its timings")
        for severity, spec in sev.items():
            sp = p + ("severities", severity)
            if c.choice(severity, sp, m.SEVERITIES) is None:
                continue
            sd = c.mapping(spec, sp, required=("class", "response", "receiver", "group_wait", "group_interval",
                                               "repeat_interval"), optional=("escalation",))
            if sd is None:
                continue
            klass = c.choice(sd.get("class"), sp + ("class",), m.SEVERITY_CLASSES)
            times = {k: c.duration(sd.get(k), sp + (k,)) for k in ("response", "group_wait", "group_interval",
                                                                   "repeat_interval")}
            escalation = c.duration(sd["escalation"], sp + ("escalation",)) if "escalation" in sd else None
            receiver = c.reference(sd.get("receiver"), sp + ("receiver",), [r.name for r in receivers],
                                   "routing.receivers", "a receiver")
            gw, gi, ri = times["group_wait"], times["group_interval"], times["repeat_interval"]
            if escalation and ri and ri.seconds > escalation.seconds:
                c.error(sp + ("repeat_interval",), f"repeat_interval {ri} is longer than the escalation time "
                        f"{escalation}", "re-notify at or before the escalation deadline")
            if gw and times["response"] and gw.seconds >= times["response"].seconds:
                c.error(sp + ("group_wait",), f"group_wait {gw} uses up the response time",
                        "use a group_wait well below the response time")
            if None in (klass, receiver, gw, gi, ri, times["response"]):
                continue
            routes.append(m.SeverityRoute(severity=severity, severity_class=str(klass),
                                          response=times["response"], receiver=str(receiver),  # type: ignore[arg-type]
                                          group_wait=gw, group_interval=gi, repeat_interval=ri,  # type: ignore[arg-type]
                                          escalation=escalation))
    webhook = _receiver(c, "kill-switch", d.get("kill_switch_webhook"), p + ("kill_switch_webhook",),
                        token_required=True)
    if webhook is None or len(routes) != len(m.SEVERITIES):
        return None
    routes.sort(key=lambda r: r.severity)
    return m.Routing(tuple(group_by), tuple(routes), tuple(receivers), webhook)


def _receiver(c: Checker, name: str, raw: Any, p: tuple, token_required: bool) -> m.Receiver | None:
    d = c.mapping(raw, p, required=("url",) + (("bearer_token_file",) if token_required else ()),
                  optional=() if token_required else ("bearer_token_file",))
    if d is None:
        return None
    url = c.string(d.get("url"), p + ("url",), r"https?://[^\s@]+", "URL without credentials")
    token = None
    if "bearer_token_file" in d:
        token = c.string(d["bearer_token_file"], p + ("bearer_token_file",), r"/\S+", "absolute path")
        if token is None:
            return None
    return m.Receiver(name, url, token) if url else None
