"""Realistic synthetic CDRs, deterministic for a seed: for the demo, the tests and the benchmarks.

A contact centre's traffic: agents with roles and departments, customers on E.164 numbers from
several regions, both directions and all three call types, the eight statuses in plausible shares,
talk time and recordings only on connected calls, and calls spread over weeks with a daily rhythm
(busy weekday mornings and afternoons, quiet nights and weekends). Records come out in callDate order,
as a phone system writes them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from .timestamps import format_timestamp

DEFAULT_START: Final = datetime(2026, 9, 1, tzinfo=UTC)
DEFAULT_DAYS: Final = 60

# (status, share, SIP response codes, bye reason)
_OUTCOMES: Final = (
    ("Call Ended", 0.62, ("200",), "Normal Clearing"),
    ("Not Answered", 0.11, ("480", "408"), "No Answer"),
    ("Cancelled", 0.07, ("487",), "Originator Cancel"),
    ("Busy", 0.06, ("486",), "User Busy"),
    ("Declined", 0.05, ("603",), "Call Rejected"),
    ("Abandoned", 0.05, ("200",), "Caller Abandoned"),
    ("Unreachable", 0.02, ("404", "503"), "Destination Unreachable"),
    ("Call Failed", 0.02, ("500", "502"), "Network Failure"),
)
_CALL_TYPES: Final = (("offnet", 0.55), ("onnet", 0.30), ("smartcall", 0.15))
# (region, country code, national number length, share)
_REGIONS: Final = (
    ("HK", "852", 8, 0.35),
    ("SG", "65", 8, 0.15),
    ("TW", "886", 9, 0.12),
    ("GB", "44", 10, 0.12),
    ("US", "1", 10, 0.14),
    ("AU", "61", 9, 0.07),
    ("MY", "60", 9, 0.05),
)
_DEPARTMENTS: Final = ("Sales", "Support", "Billing", "Technical", "Retention")
_ROLES: Final = (
    ("AGENT", "Agent", 0.80),
    ("SUPERVISOR", "Supervisor", 0.15),
    ("ADMIN", "Admin", 0.05),
)
_FIRST: Final = (
    "Amy",
    "Ben",
    "Chloe",
    "Daniel",
    "Emma",
    "Felix",
    "Grace",
    "Henry",
    "Ivy",
    "Jason",
    "Karen",
    "Leo",
    "Mei",
    "Nathan",
    "Olivia",
    "Peter",
    "Queenie",
    "Ryan",
    "Sophie",
    "Tom",
    "Vivian",
    "Wing",
    "Xavier",
    "Yuki",
    "Zoe",
    "Siu Ming",
    "José",
    "Zoë",
    "Łukasz",
    "Anaïs",
)
_LAST: Final = (
    "Chan",
    "Wong",
    "Lee",
    "Tan",
    "Lim",
    "Smith",
    "Brown",
    "Taylor",
    "Ng",
    "Cheung",
    "Lau",
    "Ho",
    "Müller",
    "García",
    "O'Brien",
    "Nguyen",
    "Kim",
    "Patel",
    "Sato",
    "Chen",
)
# Share of a day's calls in each UTC hour (a contact centre in UTC+8 would shift this by 8).
_HOURLY: Final = (
    1,
    1,
    1,
    1,
    1,
    2,
    4,
    7,
    10,
    12,
    12,
    11,
    8,
    10,
    11,
    11,
    10,
    8,
    6,
    4,
    3,
    2,
    1,
    1,
)


@dataclass(frozen=True)
class _Agent:
    eid: str
    svc_id: str
    role: str
    role_name: str
    department: str
    department_id: str
    display_name: str
    number: str


def _e164(rng: random.Random, region: tuple[str, str, int, float]) -> str:
    _, code, length, _ = region
    first = str(rng.randint(2, 9))
    return "+" + code + first + "".join(str(rng.randint(0, 9)) for _ in range(length - 1))


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _hex_id(rng: random.Random, n: int = 24) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


class Generator:
    """Yields wire-form records (dicts, as a client would POST them)."""

    def __init__(
        self,
        seed: int = 1,
        start: datetime = DEFAULT_START,
        days: int = DEFAULT_DAYS,
        agents: int = 60,
    ) -> None:
        self.rng = random.Random(seed)
        self.start_ms = int(start.timestamp() * 1000)
        self.days = days
        self.svc_id = _hex_id(self.rng, 16)
        self.trunks = [_e164(self.rng, _REGIONS[0]) for _ in range(4)]
        self.agents = [self._agent(i) for i in range(agents)]
        self._region_weights = [r[3] for r in _REGIONS]
        self._outcome_weights = [o[1] for o in _OUTCOMES]
        self._type_weights = [t[1] for t in _CALL_TYPES]
        self._role_weights = [r[2] for r in _ROLES]
        self._day_weights = [0.3 if (start.weekday() + d) % 7 >= 5 else 1.0 for d in range(days)]
        # Hours counted from `start`: the daily rhythm stays on the clock's hours whatever hour
        # the weeks start at (the demo's end at the present hour).
        self._hour_weights = [_HOURLY[(start.hour + h) % 24] for h in range(24)]

    def _agent(self, i: int) -> _Agent:
        rng = self.rng
        role, role_name, _ = rng.choices(_ROLES, [r[2] for r in _ROLES])[0]
        department = _DEPARTMENTS[i % len(_DEPARTMENTS)]
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        return _Agent(
            eid=_uuid(rng),
            svc_id=_hex_id(rng, 16),
            role=role,
            role_name=role_name,
            department=department,
            department_id=f"dept-{_DEPARTMENTS.index(department) + 1:03d}",
            display_name=f"{first} {last}",
            number=_e164(rng, _REGIONS[0]),
        )

    def _times(self, n: int) -> list[int]:
        rng = self.rng
        days = rng.choices(range(self.days), self._day_weights, k=n)
        hours = rng.choices(range(24), self._hour_weights, k=n)
        return sorted(
            self.start_ms + ((d * 24 + h) * 3600 + rng.randrange(3600)) * 1000 + rng.randrange(1000)
            for d, h in zip(days, hours, strict=True)
        )

    def records(self, n: int) -> Iterator[dict[str, Any]]:
        for call_ms in self._times(n):
            yield self.record(call_ms)

    def record(self, call_ms: int) -> dict[str, Any]:
        rng = self.rng
        status, _, codes, bye = rng.choices(_OUTCOMES, self._outcome_weights)[0]
        call_type = rng.choices(_CALL_TYPES, self._type_weights)[0][0]
        inbound = rng.random() < 0.6
        agent = rng.choice(self.agents)
        region = rng.choices(_REGIONS, self._region_weights)[0]
        connected = status == "Call Ended"
        video = rng.random() < 0.05
        talk_ms = int(rng.lognormvariate(12.0, 0.9)) if connected else 0  # median about 2.7 min
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        other = rng.choice(self.agents) if call_type == "onnet" else None  # onnet: staff to staff
        if other is not None:
            customer_number = other.number
            customer_first, customer_last = other.display_name.split(" ", 1)
        else:
            customer_number, customer_first, customer_last = _e164(rng, region), first, last
        staff_side = {
            "EID": agent.eid,
            "SvcID": agent.svc_id,
            "Role": agent.role,
            "RoleName": agent.role_name,
            "Department": agent.department,
            "DepartmentID": agent.department_id,
            "DisplayName": agent.display_name,
        }
        party_side = {
            "EID": other.eid if other else "",
            "SvcID": other.svc_id if other else "",
            "Role": other.role if other else "",
            "RoleName": other.role_name if other else "",
            "Department": other.department if other else "",
            "DepartmentID": other.department_id if other else "",
            "DisplayName": f"{customer_first} {customer_last}",
        }
        caller_side, callee_side = (party_side, staff_side) if inbound else (staff_side, party_side)
        caller, callee = (
            (customer_number, agent.number) if inbound else (agent.number, customer_number)
        )
        if inbound:
            names = (customer_first, customer_last, *agent.display_name.split(" ", 1))
        else:
            names = (*agent.display_name.split(" ", 1), customer_first, customer_last)
        recorded = connected and rng.random() < 0.35
        end_ms = call_ms + talk_ms
        record: dict[str, Any] = {
            "id": _uuid(rng),
            "hid": _hex_id(rng),
            "svcID": self.svc_id,
            "roomID": _hex_id(rng),
            "seq": rng.randint(1, 3),
            "type": "call",
            "fromEID": caller_side["EID"],
            "toEID": callee_side["EID"],
            "fromSvcID": caller_side["SvcID"],
            "toSvcID": callee_side["SvcID"],
            "fromRegion": region[0] if inbound else "HK",
            "callSeq": rng.randint(1, 5),
            "callID": _uuid(rng),
            "callDirection": "Inbound" if inbound else "Outbound",
            "callType": call_type,
            "fromIP": self._ip(),
            "callPrepareFromNum": rng.choice(self.trunks) if call_type != "onnet" else "",
            "caller": caller,
            "callee": callee,
            "callDate": format_timestamp(call_ms),
            "callEndTime": format_timestamp(end_ms),
            "status": status,
            "lastResponseCode": rng.choice(codes),
            "byeReason": bye,
            "releaseParty": (agent.eid if rng.random() < 0.5 else "") if connected else "",
            "mediaType": "video" if video else "audio",
            "isRecording": recorded,
            "hasAudioFile": recorded,
            "recordingEventList": self._recordings(agent, call_ms, end_ms, video)
            if recorded
            else [],
            "recordType": "call" if status != "Not Answered" or rng.random() < 0.7 else "voicemail",
            "fromRole": caller_side["Role"],
            "toRole": callee_side["Role"],
            "fromRoleName": caller_side["RoleName"],
            "toRoleName": callee_side["RoleName"],
            "fromDepartment": caller_side["Department"],
            "toDepartment": callee_side["Department"],
            "fromDisplayName": caller_side["DisplayName"],
            "toDisplayName": callee_side["DisplayName"],
            "lastHandledParty": agent.eid if connected else "",
            "fromDepartmentID": caller_side["DepartmentID"],
            "toDepartmentID": callee_side["DepartmentID"],
            "callerFirstName": names[0],
            "callerLastName": names[1],
            "calleeFirstName": names[2],
            "calleeLastName": names[3],
        }
        return record

    def _ip(self) -> str:
        rng = self.rng
        if rng.random() < 0.1:
            return "2001:db8:" + ":".join(f"{rng.getrandbits(16):x}" for _ in range(6))
        return f"{rng.choice((203, 118, 58, 61, 112))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def _recordings(
        self, agent: _Agent, start_ms: int, end_ms: int, video: bool
    ) -> list[dict[str, Any]]:
        rng = self.rng
        file_id = _hex_id(rng)
        duration = end_ms - start_ms
        mime, kind, ext = ("video/mp4", 2, "mp4") if video else ("audio/mp4", 3, "m4a")
        return [
            {
                "recorderEID": agent.eid,
                "startAt": format_timestamp(start_ms),
                "endAt": format_timestamp(end_ms),
                "files": [
                    {
                        "id": file_id,
                        "name": f"{file_id}.{ext}",
                        "downloadUrl": f"https://recordings.example.com/{self.svc_id}/{file_id}.{ext}",
                        "duration": duration,
                        "mimeType": mime,
                        "size": duration * (40 if video else 4),
                        "type": kind,
                        "isPrivate": True,
                    }
                ],
                "code": 0,
            }
        ]


def generate(n: int, seed: int = 1, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """n records in callDate order; the same n and seed always give the same records."""
    return Generator(seed, **kwargs).records(n)
