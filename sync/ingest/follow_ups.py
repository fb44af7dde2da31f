"""The Follow-ups tab: each row bound to its customer and to the follow-up it numbers,
new ones created, changed ones updated, vanished ones archived."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from sync.admin.identity import merged_keys
from sync.cells import Grid, cell_text
from sync.db import insert_with_ids, next_number
from sync.dedupe import merge_fields, parse_phone, value_text
from sync.fields import FOLLOW_UP_FIELDS, FOLLOW_UP_KEYS, FOLLOW_UPS_TAB
from sync.ingest.base import FOLLOW_UPS_TABLE, IngestBase
from sync.ingest.plans import TabPlan
from sync.model import Customer, FollowUp, Tracking, utcnow
from sync.rows import ParsedRow
from sync.words import say


class FollowUpsTab(IngestBase):
    """The Follow-ups tab of an ingest (see the module)."""

    def follow_ups(self, grid: Grid | None, base: dict[str, dict[str, str]]) -> TabPlan:
        plan = TabPlan(FOLLOW_UPS_TAB)
        where = f"{self.source}, tab {FOLLOW_UPS_TAB}"
        if not self._open_tab(plan, grid, FOLLOW_UP_FIELDS, "run `sheetsync init`"):
            return plan
        header = plan.header
        assert header is not None

        own = (Tracking.agent_id == self.agent.id, Tracking.active.is_(True))  # its trackings
        trackings = {
            t.id: t
            for t in self.s.execute(
                select(Tracking.id, Tracking.customer_id, Customer.number, Customer.phone)
                .join(Customer, Customer.id == Tracking.customer_id)
                .where(*own)
            )
        }
        by_number = {t.number: t for t in trackings.values()}
        by_phone = {t.phone: t for t in trackings.values()}
        # Rows still showing a merged customer's number or phone bind to the tracking
        # of the customer it was merged into.
        of_customer = {t.customer_id: t for t in trackings.values()}
        merged_numbers, merged_phones = merged_keys(self.s, of_customer)
        for number, customer_id in merged_numbers.items():
            by_number.setdefault(number, of_customer[customer_id])
        for phone_, customer_id in merged_phones.items():
            by_phone.setdefault(phone_, of_customer[customer_id])
        # The follow-ups of the trackings above, through a join (not an IN of their
        # thousands of ids, each one a parameter of the statement).
        mine = {
            f.number: f
            for f in self.s.execute(
                select(FollowUp).join(Tracking, Tracking.id == FollowUp.tracking_id).where(*own)
            ).scalars()
        }
        numbers_in_sheet = {cell_text(r.raw.get("follow_up_number")) for r in plan.rows}
        kept = {n for n in numbers_in_sheet if n in mine}
        removed = [n for n in base if n not in kept]
        if base and len(removed) >= self.min_rows and len(removed) > self.threshold * len(base):
            plan.quarantined = "mass_removal"
            self.quarantine(
                FOLLOW_UPS_TAB,
                "mass_removal",
                f"{where}: {len(removed)} of {len(base)} rows disappeared at once; "
                "nothing was archived. Undo the removal, or ask an admin to accept it",
            )
            plan.header = None
            return plan

        unseen = {n: f for n, f in mine.items() if n not in kept and f.active}
        taken: set[str] = set()
        fresh: list[tuple[int, Any, dict[str, Any]]] = []
        for row in plan.rows:
            issues = {i.field: i for i in row.issues}
            number = cell_text(row.raw.get("follow_up_number"))
            phone = (
                None if "phone" in issues else parse_phone(row.raw.get("phone"), self.region).e164
            )
            claimed = by_number.get(cell_text(row.raw.get("customer_number")))
            tracking = (
                claimed
                if claimed is not None and (phone is None or claimed.phone == phone)
                else None
            )
            if tracking is None and phone is not None:
                tracking = by_phone.get(phone)
            if tracking is None:
                self.flag(
                    plan,
                    row.index,
                    say("no_customer_for_follow_up", self.language),
                    "phone",
                )
                continue
            for key, issue in issues.items():
                self.flag(
                    plan,
                    row.index,
                    say(
                        "cell_not_synced",
                        self.language,
                        title=self.follow_up_titles[key],
                        problem=issue.message,
                    ),
                    key,
                )
                plan.leave.setdefault(row.index, set()).add(key)
            values = {
                k: row.values.get(k)
                for k in FOLLOW_UP_KEYS
                if k in header.columns and k not in issues
            }
            follow_up = mine.get(number) if number in mine and number not in taken else None
            if follow_up is not None and follow_up.tracking_id != tracking.id:
                follow_up = None
            if follow_up is None:
                follow_up = self._match_unseen(unseen, tracking.id, values)
            plan.customer_of[row.index] = tracking.number
            if follow_up is None:
                fresh.append((row.index, tracking, values))
                continue
            self._update_follow_up(
                plan, row, follow_up, values, base.get(follow_up.number), tracking
            )
            taken.add(follow_up.number)
            plan.bound[row.index] = follow_up.number
        self._create_follow_ups(plan, fresh)

        if plan.quarantined is None:
            for number in removed:
                follow_up = mine.get(number)
                if follow_up is not None and follow_up.active and number not in taken:
                    follow_up.active = False
                    self.counters.follow_ups_archived += 1
                    self.ledger.audit(
                        "archive_follow_up",
                        "follow_up",
                        follow_up.id,
                        trackings[follow_up.tracking_id].customer_id,
                        {"active": True},
                        {"active": False},
                    )
        return plan

    def _create_follow_ups(
        self, plan: TabPlan, fresh: list[tuple[int, Any, dict[str, Any]]]
    ) -> None:
        """Number and insert the follow-ups new rows typed, in one flush."""
        if not fresh:
            return
        first = next_number(self.s, "follow-up", len(fresh))
        numbers = [f"FU-{first + i:06d}" for i in range(len(fresh))]
        rows = [
            {
                "number": numbers[i],
                "tracking_id": tracking.id,
                **{k: values.get(k) for k in FOLLOW_UP_KEYS},
            }
            for i, (_, tracking, values) in enumerate(fresh)
        ]
        ids = insert_with_ids(self.s, FOLLOW_UPS_TABLE, rows, "number")
        for number, follow_up_id, (index, tracking, values) in zip(
            numbers, ids, fresh, strict=True
        ):
            plan.bound[index] = number
            self.counters.follow_ups_created += 1
            self.ledger.audit(
                "create_follow_up",
                "follow_up",
                follow_up_id,
                tracking.customer_id,
                None,
                {k: value_text(v) for k, v in values.items()},
            )

    def _match_unseen(
        self, unseen: dict[str, FollowUp], tracking_id: int, values: dict[str, object]
    ) -> FollowUp | None:
        """A row without its Follow-up # that matches a follow-up we created before.

        This happens when the write of the number was skipped (the agent was typing);
        matching it keeps the next cycle from creating the follow-up twice.
        """
        for number, candidate in unseen.items():
            if candidate.tracking_id == tracking_id and all(
                value_text(getattr(candidate, k)) == value_text(v) for k, v in values.items()
            ):
                del unseen[number]
                return candidate
        return None

    def _update_follow_up(
        self,
        plan: TabPlan,
        row: ParsedRow,
        follow_up: FollowUp,
        values: dict[str, object],
        base_row: dict[str, str] | None,
        tracking: Any,
    ) -> None:
        decision = merge_fields(
            values,
            {},
            [str(key) for key in values],
            {key: getattr(follow_up, key) for key in values},
            base_row,
            titles=self.follow_up_titles,
            typed_titles=plan.header.titles if plan.header is not None else {},
            number=plan.customer_of[row.index],
            shared=False,
            language=self.language,
        )
        self._note(plan, row.index, decision)
        for key, value in decision.take.items():
            setattr(follow_up, key, value)
        before, after = decision.before, decision.after
        if not follow_up.active:
            follow_up.active = True
            after["active"] = "TRUE"
        if after:
            follow_up.updated_at = utcnow()
            self.counters.follow_ups_updated += 1
            self.ledger.audit(
                "update_follow_up", "follow_up", follow_up.id, tracking.customer_id, before, after
            )
