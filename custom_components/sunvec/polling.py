"""When to poll one inverter: about one call per new record, soon after it lands.

The cloud holds a new record only about every five minutes per inverter and returns
the same one in between, so the policy learns from the replies and aims each call
just after the next record should have become available:

* the upload **cadence** and **phase** (from ``uploadTime``), with the jitter around
  them;
* the **publish delay**: how long after its upload instant a record becomes
  available to us. The cloud takes a moment to publish a record; if the upload
  instants the caller hands us are off by a constant (a zone read wrong, a drifting
  clock), that constant adds to the delay, whatever its size. Every new record
  brackets the delay: it was not there at the previous poll and it is there now.
  Occasional probes a little earlier than the safe time keep the bracket tight;
* whether the inverter sleeps or stopped uploading, to slow down to a few calls an
  hour, or to none at all while it sleeps through a night the caller told us about;
  from sunrise on it polls once per slot of the schedule the inverter had the day
  before, so the first record of the day is seen seconds after it lands;
* whether a record missing at its slot tends to come late or not at all, to retry
  only where retries find something.

Terms used below: the *upload clock* is the clock of the ``upload_ts`` the caller
passes; *our clock* is the one of ``now``. The *publish delay* is the time on our
clock at which a record becomes available minus its ``upload_ts``. A *slot* is one
expected upload.

Modes (``PollMode``; ``UploadPolicy.mode`` and the diagnostics show it):

============  ======================================================================
starting      No reply yet: poll now.
undated       Nothing to aim at (the record has no upload time, or the inverter
              said it sleeps and now says it is awake without a new upload): one
              poll per cadence.
learning      Aiming at each slot while the jitter or the publish delay is still
              being learnt: every missing record is retried, probes narrow the
              delay's bracket.
verifying     Aiming with what was learnt, for the first VERIFY_RECORDS records
              after a long gap (night, outage): missing records are retried and
              waited for as while learning, a probe checks whether the delay moved.
settled       Aiming with the jitter and the delay learnt: missing records are
              retried only where retries found late ones (and now and then, to
              keep learning); a probe now and then.
dormant       Awake, but DORMANT_SLOTS slots in a row brought nothing (an outage):
              every QUIET_INTERVAL, and the morning search around sunrise.
asleep        The record says the inverter sleeps: with a daylight hint no poll from
              shortly before sunset to sunrise, else every QUIET_INTERVAL; from
              sunrise on, the morning search (one poll per slot of the last known
              schedule).
backing_off   The last call failed: exponential backoff, but never more often than
              the quiet rate if the mode before it was dormant or asleep.
============  ======================================================================

Being *thrifty* (``set_thrifty``: the token's budget runs short) is not a mode: it
changes how every mode polls (later aims, no retries, no checking probes, every other
slot of the morning search) and the diagnostics show it next to the mode.

Transitions: a failed call leads from any mode to ``backing_off``; every reply
decides the mode afresh, in ``UploadPolicy._mode_after_reply`` (first match wins).
Nothing else changes it: not hints, thrift or the passing of time.

=================================================================  ===========
the reply                                                          mode
=================================================================  ===========
says the inverter sleeps                                           asleep
(no new record since) DORMANT_SLOTS slots in a row were given up   dormant
has no upload time, or there is no slot to aim at                  undated
the jitter or the publish delay is not learnt yet                  learning
is within VERIFY_RECORDS new records after a long gap              verifying
otherwise                                                          settled
=================================================================  ===========

So a day typically runs: starting -> learning -> settled -> asleep in the evening ->
verifying with the first record of the morning -> settled. A delay that jumps (a
zone change, a clock step) leads back to learning; missed slots lead to dormant, and
the next new record back to aiming.

The module is pure: no I/O, no asyncio, no real clock; every method takes ``now`` as
a UNIX timestamp in seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
import math
import random
from statistics import median

from .const import TIMER_SLACK, UPLOAD_PERIOD

# --- Cadence ----------------------------------------------------------------------
# The nominal UPLOAD_PERIOD is assumed until enough uploads were seen. Gaps outside this range are glitches (duplicates, clock steps), not a cadence.
MIN_CADENCE = 30.0
MAX_CADENCE = 1800.0
# Uploads remembered for the cadence (about two hours at the nominal cadence): enough
# for a median that ignores a late or missed upload, short enough to follow a change.
CADENCE_HISTORY = 25
# Samples needed before the learned cadence replaces the default.
MIN_CADENCE_SAMPLES = 3
# A longer gap (night, outage) says nothing about the cadence and resets the phase:
# an inverter that wakes up or reconnects starts a new upload rhythm.
MAX_GAP_PERIODS = 4

# --- Phase ------------------------------------------------------------------------
# Gains of the phase trackers that run side by side; the one that predicted the
# recent uploads best is used. 1.0 follows the last upload (best when each interval
# jitters on its own), 0.2 averages a fixed schedule (best when each upload jitters
# around a fixed timer).
TRACKER_GAINS = (1.0, 0.2)
# Prediction errors remembered per tracker (3 hours at the nominal cadence).
JITTER_WINDOW = 36
# Errors needed before a tracker is scored and its spread trusted.
MIN_JITTER_SAMPLES = 6
# An upload further off than this is an outlier: it does not move the phase (a single
# late upload is not a new rhythm) unless the next one is off the same way.
OUTLIER_MIN = 20.0
OUTLIER_FACTOR = 4.0
# The lateness allowance covers the latest recent upload against its prediction;
# until the jitter is known, the documented few seconds.
DEFAULT_LATE_MARGIN = 5.0
# Added to every aim: uploadTime has one-second resolution and the cloud's publishing
# delay varies by a second or two.
SAFETY_MARGIN = 1.0
# While calls are short (thrifty), the aim allows this much more: a miss then costs
# a record instead of a retry.
THRIFTY_MARGIN = 2.0

# --- Publish delay --------------------------------------------------------------
# What the delay is assumed to be until the records bracket it within DELAY_WIDE:
# the record appears when its upload instant says (a zone read wrong adds whole
# quarter hours, a multiple of the nominal cadence, so even then the slots of the
# morning search line up).
DELAY_PRIOR = 0.0
DELAY_WIDE = 60.0
# Records whose delay brackets are remembered (12 hours at the nominal cadence): a
# bracket expires so that a slowly drifting clock is followed.
DELAY_WINDOW = 144
# The delay counts as learnt once its bracket is this narrow (seconds).
DELAY_TIGHT = 3.0
# The aim lies in the middle of the bracket, at most this far below its top: probes
# through the jitter rarely narrow a bracket to nothing, its middle is the better
# guess, and the lateness allowance covers the rest.
DELAY_SHADE = 5.0
# Bounds that newer records contradict by more than this are forgotten (a drifting
# clock); within it, the contradiction is the spread of the cloud's publishing delay.
DELAY_NOISE = 5.0
# A bracket this far outside the others is a jump (zone change, clock step): learn
# again from the newest record.
DELAY_JUMP = 30.0
# While learning, a probe at each slot tests a delay below the upper bound: first
# PROBE_STEP below it, twice as far after each probe that found the record (a probe
# that finds it costs nothing: it is the call for that record), and the middle of
# the bracket once one found nothing. At most MAX_LEARNING_PROBES times, or until
# MAX_LEARNING_MISSES found nothing (each such probe costs a call): when the jitter
# or budget delays keep the bracket wider than DELAY_TIGHT, what it has is good
# enough.
MAX_LEARNING_PROBES = 10
MAX_LEARNING_MISSES = 2
# Once learnt, a probe a little (PROBE_STEP, in seconds) before the aim checks now and
# then whether records come earlier. A probe that finds nothing costs a call, so they
# are rare: the first PROBE_EVERY_START records (half a day) after learning, then every
# PROBE_EVERY_MAX records unless they keep finding earlier records (then down to
# every PROBE_EVERY_MIN records, searching deeper and deeper).
PROBE_STEP = 2.0
PROBE_EVERY_MIN = 12
PROBE_EVERY_START = 144
PROBE_EVERY_MAX = 288

# --- Retries ----------------------------------------------------------------------
# Waits between polls while an expected record is late: short first (jitter), then
# growing (a late upload), then the slot is given up.
RETRY_STEPS = (5.0, 10.0, 20.0, 40.0, 80.0, 160.0)
# A slot is given up this long after its aim at the earliest; wider jitter waits
# longer (GIVE_UP_FACTOR times the lateness allowance), never past a third of the
# cadence so the next slot is not at risk.
GIVE_UP_MIN = 10.0
GIVE_UP_FACTOR = 2.0
# Never poll more often than this, whatever the arithmetic says (no poll storms).
MIN_POLL_GAP = 5.0
# Slots given up in a row before the inverter counts as not uploading (dormant).
DORMANT_SLOTS = 3
# Whether to retry a record missing at its aim is learnt: the outcomes of the last
# RETRY_HISTORY slots that were retried (uploaded more than LATE_BEYOND later than
# the jitter allows, or given up: not uploaded) are kept; retries go on while the
# jitter or the delay is still being learnt, fewer than RETRY_EVIDENCE outcomes are
# known or at least one in RETRY_LATE_SHARE came late. Otherwise a missing record
# counts as not uploaded at once, except every RETRY_EXPLORE_EVERY-th, which is
# retried to keep learning.
RETRY_HISTORY = 12
LATE_BEYOND = 3.0
RETRY_EVIDENCE = 2
RETRY_LATE_SHARE = 4
RETRY_EXPLORE_EVERY = 4
# Added to the aim of a record that will not be retried.
UNRETRIED_MARGIN = 1.0
# After a long gap (night, outage) the clocks may have drifted apart: for this many
# records, late ones are waited for as long as for a missed one, and a probe checks
# for earlier ones.
VERIFY_RECORDS = 3

# --- Quiet (asleep, dormant) ------------------------------------------------------
# Poll interval while asleep or dormant: at most 4 calls an hour. While the
# inverter sleeps and the sun is down, or sets within SUNSET_HORIZON (its last hour
# gives too little light to wake a sleeping inverter), its record cannot change: no
# poll until the morning search.
QUIET_INTERVAL = 900.0
SUNSET_HORIZON = 3600.0
# The morning search, from MORNING_LEAD before sunrise until uploads resume, for at
# most MORNING_SPAN: one poll per slot of the last known schedule (a record stays a
# whole cadence, so none is missed even if the inverter wakes up on another rhythm).
MORNING_LEAD = 0.0
MORNING_SPAN = 3 * 3600.0
# The hint's sun may not be the plant's (Home Assistant elsewhere in the same zone):
# when the first poll of a morning search already finds the inverter awake, the next
# searches start MORNING_LEAD_STEP earlier, up to MORNING_LEAD_MAX before sunrise.
MORNING_LEAD_STEP = 3600.0
MORNING_LEAD_MAX = 4 * 3600.0
# Quiet polls defer to due ones of other inverters by this much (budget priority).
QUIET_DEFERENCE = 60.0

# --- Errors -----------------------------------------------------------------------
# Exponential backoff after failed calls: base, cap, and the fraction of random
# shortening so that inverters that failed together do not retry together. The cap
# is one upload period: when the cloud comes back, its first new record is seen,
# and a long outage costs at most one call per record (the token's budget still
# limits the sum).
ERROR_BASE = 30.0
ERROR_CAP = UPLOAD_PERIOD
ERROR_JITTER = 0.2
# A rate-limit reply waits at least the rest of the cloud's counting minute.
RATE_LIMIT_MIN_DELAY = 60.0

# How many recently seen upload instants are remembered: the cloud sometimes serves an
# older record again; that is not a new upload.
SEEN_HISTORY = 8


class PollMode(StrEnum):
    """What the policy polls for (the table in the module docstring)."""

    STARTING = "starting"
    UNDATED = "undated"
    LEARNING = "learning"
    VERIFYING = "verifying"
    SETTLED = "settled"
    DORMANT = "dormant"
    ASLEEP = "asleep"
    BACKING_OFF = "backing_off"


# Modes that poll at the quiet rate: nothing is expected.
_QUIET_MODES = frozenset({PollMode.DORMANT, PollMode.ASLEEP})


class _Cadence:
    """Learns the upload cadence from the gaps between uploads."""

    def __init__(self, period: float) -> None:
        """Assume ``period`` until enough uploads were seen."""
        self.period = period
        self._periods: deque[float] = deque(maxlen=CADENCE_HISTORY)
        self._gaps: deque[float] = deque(maxlen=CADENCE_HISTORY)
        self._uploads: deque[float] = deque(maxlen=CADENCE_HISTORY)

    def learn(self, upload_ts: float, previous: float | None) -> None:
        """Learn from a new upload and the one before it."""
        if previous is None or upload_ts <= previous:
            return
        gap = upload_ts - previous
        periods = max(1, round(gap / self.period))
        if periods > MAX_GAP_PERIODS:
            self._uploads.clear()
            self._uploads.append(upload_ts)
            return
        if not MIN_CADENCE <= gap / periods <= MAX_CADENCE:
            return
        if not self._uploads:
            self._uploads.append(previous)
        self._periods.append(gap / periods)
        self._gaps.append(gap)
        self._uploads.append(upload_ts)
        if len(self._periods) >= MIN_CADENCE_SAMPLES:
            coarse = median(self._periods)
            if (typical := median(self._gaps)) >= 1.5 * coarse:
                # Most gaps span several assumed periods: the uploads are rarer,
                # not missed.
                coarse = typical
            self.period = self._refine(coarse)

    def _refine(self, coarse: float) -> float:
        """Sharpen a cadence with differences across half the remembered uploads.

        Consecutive differences carry the full jitter; differences over many periods
        divide it by the number of periods, and their median stays robust.
        """
        uploads = list(self._uploads)
        span = len(uploads) // 2
        estimates = [
            (uploads[i + span] - uploads[i]) / periods
            for i in range(len(uploads) - span)
            if (periods := round((uploads[i + span] - uploads[i]) / coarse)) >= 1
        ]
        if span < 2 or not estimates:
            return coarse
        refined = median(estimates)
        return refined if abs(refined - coarse) <= coarse / 10 else coarse


@dataclass(slots=True)
class _PhaseTracker:
    """Follows the phase of the upload schedule with one smoothing gain."""

    gain: float
    # Smoothed upload-clock instant of the slot of the latest record.
    anchor: float
    residuals: deque[float] = field(default_factory=lambda: deque(maxlen=JITTER_WINDOW))
    # Sign of the previous upload's error if it was an outlier, else 0.
    outlier_sign: int = 0
    # Sum of the absolute errors remembered.
    total: float = 0.0

    def score(self) -> float:
        """Return the mean absolute prediction error (inf until enough samples)."""
        if len(self.residuals) < MIN_JITTER_SAMPLES:
            return math.inf
        return self.total / len(self.residuals)

    def late_margin(self) -> float:
        """Return how late uploads can be against the prediction.

        The latest recent upload, plus the gap that few samples leave to the true
        edge of the jitter (the unbiased estimate of the end of a uniform
        distribution): the aim then rarely comes a moment too early.
        """
        count = len(self.residuals)
        if count < MIN_JITTER_SAMPLES:
            return DEFAULT_LATE_MARGIN
        latest, earliest = max(self.residuals), min(self.residuals)
        return max(0.0, latest + (latest - earliest) / (count - 1))

    def update(self, upload_ts: float, cadence: float) -> None:
        """Move the phase towards a new upload."""
        slots = round((upload_ts - self.anchor) / cadence)
        if not 1 <= slots <= MAX_GAP_PERIODS:
            self.resync(upload_ts)
            return
        predicted = self.anchor + slots * cadence
        error = upload_ts - predicted
        spread = self.score()
        limit = OUTLIER_MIN if math.isinf(spread) else OUTLIER_FACTOR * spread
        if abs(error) > max(OUTLIER_MIN, limit):
            sign = 1 if error > 0 else -1
            if sign == self.outlier_sign:
                # Two in a row off the same way: the schedule moved.
                self.resync(upload_ts)
                return
            self.outlier_sign = sign
            self.anchor = predicted
            return
        self.outlier_sign = 0
        if len(self.residuals) == self.residuals.maxlen:
            self.total -= abs(self.residuals[0])
        self.residuals.append(error)
        self.total += abs(error)
        self.anchor = predicted + self.gain * error

    def resync(self, upload_ts: float) -> None:
        """Start the phase afresh at an upload (the jitter stays what it was)."""
        self.anchor = upload_ts
        self.outlier_sign = 0


@dataclass(slots=True)
class _Slot:
    """One expected upload and the polls made for it."""

    # The upload instant expected (upload clock).
    expected: float
    # Whether its record is retried if missing at the aim (else the aim is a safe
    # one: a little later, and one poll only).
    retry: bool
    # The first poll planned for it (our clock): the probe, else the aim.
    due: float
    # A probe before the aim, until it was made.
    probe_at: float | None = None
    # Whether a probe was planned: the poll that finds the record then teaches the
    # bracket whether records come that early.
    probed: bool = False
    # Polls at or after the aim that did not find the record.
    misses: int = 0


@dataclass(slots=True)
class _RetryEvidence:
    """What retrying missing records found (see RETRY_HISTORY)."""

    # The outcomes of retried slots: True if the record came late, False if never.
    outcomes: deque[bool] = field(default_factory=lambda: deque(maxlen=RETRY_HISTORY))
    # Missing records not retried since the last retried one.
    unretried: int = 0

    @property
    def found_late(self) -> int:
        """Return how many retries found a late record."""
        return sum(self.outcomes)

    @property
    def found_nothing(self) -> int:
        """Return how many retries found nothing (the record was not uploaded)."""
        return len(self.outcomes) - sum(self.outcomes)

    @property
    def worth_retrying(self) -> bool:
        """Return whether the evidence says to retry a missing record."""
        outcomes = self.outcomes
        return (
            len(outcomes) < RETRY_EVIDENCE
            or sum(outcomes) * RETRY_LATE_SHARE >= len(outcomes)
            or self.unretried >= RETRY_EXPLORE_EVERY
        )

    def came_late(self) -> None:
        """Note a retried record that came late."""
        self.outcomes.append(True)

    def never_came(self) -> None:
        """Note a retried record that never came."""
        self.outcomes.append(False)
        self.unretried = 0

    def not_retried(self) -> None:
        """Note a missing record given up without a retry."""
        self.unretried += 1


class _DelayBracket:
    """Brackets the publish delay: availability on our clock minus upload instant.

    A new record was not there at the previous poll and is there now, so its delay
    lies in ``(previous_poll - upload_ts, now - upload_ts]``. The bracket is the
    intersection over the recent records. Polls at the safe time only ever see the
    record, which proves nothing about earlier times: the upper bound comes down
    through probes, made a little earlier than the safe time.
    """

    def __init__(self) -> None:
        """Start with nothing known."""
        self._intervals: deque[tuple[float, float]] = deque(maxlen=DELAY_WINDOW)
        # True once learning ended since the last jump (the bracket was narrow, or
        # the probes did what they could): later probes are small steps instead of
        # a bisection from scratch.
        self._learnt = False
        self._step = PROBE_STEP
        self._probe_every = PROBE_EVERY_MAX
        self._until_probe = PROBE_EVERY_MAX
        # How much the current probe search lowered the estimate so far.
        self._found = 0.0
        self._learning_probes = 0
        self._learning_misses = 0
        # How far below the upper bound the next learning probe tests.
        self._learn_step = PROBE_STEP
        # upper, lower and proven, until the intervals change.
        self._cache: tuple[float, float, float] | None = None

    @property
    def upper(self) -> float:
        """Return the smallest upper bound (inf when nothing is known)."""
        return self._bounds()[0]

    @property
    def lower(self) -> float:
        """Return the largest lower bound (-inf when nothing is known)."""
        return self._bounds()[1]

    @property
    def proven(self) -> float:
        """Return the largest lower bound that two records agree on.

        A single record can be slow to appear; two that came that late mean the
        delay really is that large (a drifting clock).
        """
        return self._bounds()[2]

    def _bounds(self) -> tuple[float, float, float]:
        if self._cache is None:
            lows = sorted(lo for lo, _ in self._intervals)
            self._cache = (
                min((hi for _, hi in self._intervals), default=math.inf),
                lows[-1] if lows else -math.inf,
                lows[-2] if len(lows) >= 2 else -math.inf,
            )
        return self._cache

    def estimate(self) -> float | None:
        """Return the delay to aim with.

        The prior while the bracket is wide and allows it (a record first seen a
        cadence late says little: its aims at the prior then narrow the bracket
        from above at no cost, or miss and raise it from below), else the middle of
        the bracket (at most DELAY_SHADE below the upper bound: the lateness
        allowance covers the rest), or what two records proved.
        """
        if not self._intervals:
            return None
        upper, lower = self.upper, self.lower
        if upper - lower > DELAY_WIDE and lower < DELAY_PRIOR <= upper:
            return DELAY_PRIOR
        shade = min(max(upper - lower, 0.0), 2 * DELAY_SHADE) / 2
        return max(upper - shade, self.proven)

    def add(self, lo: float, hi: float) -> None:
        """Add the bracket of a new record."""
        if self._intervals and (
            lo > self.upper + DELAY_JUMP or hi < self.lower - DELAY_JUMP
        ):
            # The delay jumped (a zone change, a clock step): what we knew no longer
            # applies.
            self._intervals.clear()
            self._cache = None
            self._learnt = False
            self._learning_probes = self._learning_misses = 0
            self._learn_step = PROBE_STEP
        if hi < self.proven - DELAY_NOISE:
            # Records come earlier now: forget the lower bounds this one disproves.
            self._keep(lambda interval: interval[0] <= hi + DELAY_NOISE)
        self._intervals.append((lo, hi))
        self._cache = None
        proven = self.proven
        if proven > self.upper + DELAY_NOISE:
            # Records come later now: forget the upper bounds they disprove.
            self._keep(lambda interval: interval[1] >= proven - DELAY_NOISE)
        self._until_probe -= 1
        if not self._learnt and self.tight:
            self._end_learning()

    def _end_learning(self) -> None:
        """End learning: check again after a while, then less and less often."""
        self._learnt = True
        self._learning_probes = self._learning_misses = 0
        self._probe_every = self._until_probe = PROBE_EVERY_START

    def _keep(self, keep: Callable[[tuple[float, float]], bool]) -> None:
        self._intervals = deque(filter(keep, self._intervals), maxlen=DELAY_WINDOW)
        self._cache = None

    @property
    def tight(self) -> bool:
        """Return whether the records bracket the delay narrowly."""
        return self.upper - self.lower <= DELAY_TIGHT

    @property
    def learnt(self) -> bool:
        """Return whether the delay was learnt (since the last jump)."""
        return self._learnt

    def probe_delay(self, cadence: float) -> float | None:
        """Return the delay a probe should test, or None if no probe is due.

        While learning, a growing step below the upper bound, or the middle of
        the bracket if that is nearer; once learnt, a small step below the
        estimate.
        """
        if not self._learnt:
            # (Not learnt means the bracket is still wider than DELAY_TIGHT.)
            step = min(self._learn_step, cadence / 2)
            return self.upper - min((self.upper - self.lower) / 2, step)
        if self._until_probe > 0:
            return None
        estimate = self.estimate()
        assert estimate is not None
        return estimate - self._step

    def probed(self, cadence: float, *, hit: bool, lowered_by: float) -> None:
        """Plan the next probe from what the last one found.

        A probe that found the record may have more to find below: probe again at
        the next record, twice as deep. A probe that did not ends the search; if the
        search lowered the estimate by more than the tight width (a drift), search
        more often, else less often.
        """
        if not self._learnt:
            self._learning_probes += 1
            if hit:
                self._learn_step *= 2
            else:
                self._learning_misses += 1
            if (
                self._learning_probes >= MAX_LEARNING_PROBES
                or self._learning_misses >= MAX_LEARNING_MISSES
            ):
                self._end_learning()
            return
        self._found += lowered_by
        if hit:
            self._step = min(self._step * 2, cadence / 2)
            self._until_probe = 0
            return
        if self._found > DELAY_TIGHT:
            self._probe_every = max(PROBE_EVERY_MIN, self._probe_every // 2)
        else:
            self._probe_every = min(PROBE_EVERY_MAX, self._probe_every * 2)
        self._step = PROBE_STEP
        self._found = 0.0
        self._until_probe = self._probe_every

    def recheck(self) -> None:
        """Probe at the next record: after a long gap the clock may have drifted."""
        if self._learnt:
            self._until_probe = 0


@dataclass(frozen=True, slots=True)
class _Backoff:
    """The calls failed since the last reply (the state of ``backing_off``)."""

    errors: int
    retry_at: float
    # The mode the last reply led to: if quiet, its rate is the backoff's floor.
    interrupted: PollMode


@dataclass(slots=True)
class _Daylight:
    """The caller's hints about the sun at the plant."""

    next_sunrise: float | None = None
    next_sunset: float | None = None
    # The sunrise before the next one, once the hints moved past it.
    previous_sunrise: float | None = None
    is_daylight: bool = False

    def update(
        self, next_sunrise: float | None, is_daylight: bool, next_sunset: float | None
    ) -> None:
        """Take a new hint (see ``UploadPolicy.set_daylight_hint``)."""
        if next_sunrise is None:
            # No sun to go by (polar day or night, or the plant's sun is unknown).
            self.previous_sunrise = None
        elif self.next_sunrise is not None and next_sunrise > self.next_sunrise:
            self.previous_sunrise = self.next_sunrise
        self.next_sunrise = next_sunrise
        self.next_sunset = next_sunset
        self.is_daylight = is_daylight

    def dark_until_sunrise(self, now: float) -> bool:
        """Return whether no light can wake a sleeping inverter before sunrise.

        Only with a sunrise to wake up for: without the hint, night is a guess.
        """
        return self.next_sunrise is not None and (
            not self.is_daylight
            or (
                self.next_sunset is not None
                and now + SUNSET_HORIZON >= self.next_sunset
            )
        )

    def sunrises(self) -> list[float]:
        """Return the sunrises whose morning search may be under way or ahead."""
        sunrises: list[float] = []
        if self.next_sunrise is not None:
            sunrises.append(self.next_sunrise)
            if self.is_daylight and self.previous_sunrise is None:
                # Started during the day: today's sunrise was about a day earlier.
                sunrises.append(self.next_sunrise - 86400.0)
        if self.previous_sunrise is not None:
            sunrises.append(self.previous_sunrise)
        return sunrises


class UploadPolicy:
    """Decides when to poll one inverter, from what its replies showed.

    Feed it every reply (``observe_record``) and every failure (``observe_error``);
    ask ``next_poll`` for the time of the next call.
    """

    def __init__(
        self,
        *,
        rng: random.Random | None = None,
        default_cadence: float = UPLOAD_PERIOD,
    ) -> None:
        """Create a policy.

        Args:
            rng: Source of the backoff jitter; pass a seeded one for repeatable
                behaviour.
            default_cadence: Upload cadence (s) assumed until one is learned.
        """
        self._rng = rng if rng is not None else random.Random()  # noqa: S311
        self._cadence = _Cadence(default_cadence)
        self._trackers: list[_PhaseTracker] = []
        self._delay = _DelayBracket()
        self._seen: deque[float] = deque(maxlen=SEEN_HISTORY)
        self._last_upload_ts: float | None = None
        self._last_poll: float | None = None
        self._mode = PollMode.STARTING
        self._backoff: _Backoff | None = None
        # The upload we wait for, and the slots given up in a row. (A slot outlives
        # the modes that aim at it: a reply that shows the same record again, after
        # undated or asleep, still counts against it.)
        self._slot: _Slot | None = None
        self._missed_slots = 0
        self._retries = _RetryEvidence()
        # Records left to wait patiently for, after a long gap (verifying).
        self._records_to_verify = 0
        self._sun = _Daylight()
        # How long before sunrise the morning search starts (learnt).
        self._morning_lead = MORNING_LEAD
        self._thrifty = False

    # --- Inputs -------------------------------------------------------------------

    def observe_record(
        self, now: float, upload_ts: float | None, *, asleep: bool
    ) -> None:
        """Learn from a successful reply.

        Args:
            now: When the call was made (our clock; the reply's arrival would do
                too, a second of latency is within the margins).
            upload_ts: The record's upload instant as the caller reads it (its
                ``uploadTime`` in the zone the caller believes), or None if the
                record has none.
            asleep: Whether the record says the inverter went to sleep.
        """
        if upload_ts is not None and upload_ts not in self._seen:
            if self._reply_mode is PollMode.ASLEEP and not asleep:
                self._check_morning_lead(now, upload_ts)
            self._on_new_record(now, upload_ts, asleep=asleep)
        elif (
            upload_ts is not None
            and self._slot is not None
            and not asleep
            and self._missed_slots < DORMANT_SLOTS
        ):
            # Not there yet: a poll for the slot that did not find its record.
            self._on_same_record(now, self._slot)
        self._last_poll = now
        self._backoff = None
        self._mode = self._mode_after_reply(upload_ts, asleep=asleep)

    def observe_error(self, now: float, *, rate_limited: bool = False) -> None:
        """Back off after a failed call.

        Args:
            now: When the call failed.
            rate_limited: Whether the cloud said the token called too often.
        """
        errors = 1 if self._backoff is None else self._backoff.errors + 1
        delay = min(ERROR_CAP, ERROR_BASE * 2.0 ** min(errors - 1, 30))
        if rate_limited:
            delay = max(delay, RATE_LIMIT_MIN_DELAY)
        delay *= 1.0 - ERROR_JITTER * self._rng.random()
        self._backoff = _Backoff(errors, now + delay, self._reply_mode)
        self._mode = PollMode.BACKING_OFF

    def set_daylight_hint(
        self,
        next_sunrise_ts: float | None,
        is_daylight: bool,
        next_sunset_ts: float | None = None,
    ) -> None:
        """Tell the policy when the sun rises and sets.

        A sleeping inverter is then not polled at night, and the first upload of
        the morning is searched for from sunrise on.

        Args:
            next_sunrise_ts: The next sunrise (UNIX time) at the plant, or None if
                unknown (polar day or night).
            is_daylight: Whether the sun is up now.
            next_sunset_ts: The next sunset (UNIX time), or None if unknown.
        """
        self._sun.update(next_sunrise_ts, is_daylight, next_sunset_ts)

    def set_thrifty(self, thrifty: bool) -> None:
        """Save calls while the token's budget runs short (see TokenBudget).

        A thrifty policy aims a little later, gives up a slot after one poll
        instead of retrying, probes only to learn the delay (not to check it),
        and polls every other slot around sunrise. It may then miss an unusually
        late record.

        Args:
            thrifty: Whether to save calls (e.g. ``TokenBudget.under_pressure``).
        """
        self._thrifty = thrifty

    # --- Output -------------------------------------------------------------------

    def next_poll(self, now: float) -> float:
        """Return when to poll next (our clock; may be in the past: poll now).

        Args:
            now: The current time.
        """
        match self._mode:
            case PollMode.STARTING:
                return now
            case PollMode.BACKING_OFF:
                return self._backoff_poll()
            case mode:
                return self._planned_poll(mode)

    def staleness_priority(self, now: float) -> float:
        """Return how many seconds this inverter's next data is overdue.

        Negative while it is not due yet. Sharing calls fairly means serving the
        inverter with the highest value first: ``now - priority`` is the instant
        since which it waits for data (the first planned poll for the expected
        record; quiet polls defer to the others).

        Args:
            now: The current time.
        """
        mode = self._reply_mode
        if mode is PollMode.STARTING:
            return 0.0
        if mode in _QUIET_MODES or self._slot is None:
            return now - (self.next_poll(now) + QUIET_DEFERENCE)
        return now - self._slot.due

    # --- State for the coordinator and diagnostics ---------------------------------

    @property
    def cadence(self) -> float:
        """Return the learned upload cadence (s)."""
        return self._cadence.period

    @property
    def publish_delay(self) -> float | None:
        """Return the learnt publish delay (s): availability minus upload instant."""
        return self._delay.estimate()

    @property
    def mode(self) -> PollMode:
        """Return what the policy polls for (see the module docstring)."""
        return self._mode

    def diagnostics(self) -> dict[str, str | float | int | bool | None]:
        """Return the mode and the learnt state, for the diagnostics download."""
        slot, backoff = self._slot, self._backoff
        expected = None
        if slot is not None and self._reply_mode not in _QUIET_MODES:
            expected = slot.expected
        return {
            "mode": self._mode.value,
            "thrifty": self._thrifty,
            "cadence": self._cadence.period,
            "publish_delay": self.publish_delay,
            "publish_delay_lower": _finite(self._delay.lower),
            "publish_delay_upper": _finite(self._delay.upper),
            "late_margin": self._late_margin,
            "last_upload_ts": self._last_upload_ts,
            "expected_next_upload": expected,
            "missed_slots": self._missed_slots,
            "retries_found_late": self._retries.found_late,
            "retries_found_nothing": self._retries.found_nothing,
            "retries_missing_records": None if slot is None else slot.retry,
            "consecutive_errors": 0 if backoff is None else backoff.errors,
            "morning_search_lead": self._morning_lead,
        }

    # --- Modes --------------------------------------------------------------------

    @property
    def _reply_mode(self) -> PollMode:
        """Return the mode the last reply led to (the one a backoff interrupted)."""
        return self._mode if self._backoff is None else self._backoff.interrupted

    def _mode_after_reply(self, upload_ts: float | None, *, asleep: bool) -> PollMode:
        """Return the mode a reply leads to (the table in the module docstring)."""
        if asleep:
            return PollMode.ASLEEP
        if self._missed_slots >= DORMANT_SLOTS:
            return PollMode.DORMANT
        if upload_ts is None or self._slot is None:
            return PollMode.UNDATED
        if not self._jitter_known or not self._delay.learnt:
            return PollMode.LEARNING
        if self._records_to_verify:
            return PollMode.VERIFYING
        return PollMode.SETTLED

    def _planned_poll(self, mode: PollMode) -> float:
        """Return the next poll of a mode that a reply led to."""
        assert self._last_poll is not None
        match mode:
            case PollMode.ASLEEP | PollMode.DORMANT:
                planned = self._quiet_poll(asleep=mode is PollMode.ASLEEP)
            case PollMode.UNDATED:
                planned = self._last_poll + self._cadence.period
            case _:
                # Learning, verifying, settled: aiming at the slot.
                assert self._slot is not None
                planned = self._slot_poll(self._slot)
        return max(planned, self._last_poll + MIN_POLL_GAP)

    def _backoff_poll(self) -> float:
        """Return the retry after failed calls, at the quiet rate at most."""
        backoff = self._backoff
        assert backoff is not None
        if backoff.interrupted in _QUIET_MODES:
            return max(backoff.retry_at, self._planned_poll(backoff.interrupted))
        return backoff.retry_at

    # --- Learning -----------------------------------------------------------------

    @property
    def _late_margin(self) -> float:
        """Return the allowance (s) for uploads later than predicted."""
        if not self._trackers:
            return DEFAULT_LATE_MARGIN
        margin = self._best_tracker().late_margin()
        if self._thrifty:
            margin += THRIFTY_MARGIN
        return min(margin, self._cadence.period / 4)

    def _on_new_record(self, now: float, upload_ts: float, *, asleep: bool) -> None:
        previous = self._last_upload_ts
        slot = self._slot
        if (
            slot is not None
            and slot.retry
            and slot.misses
            and self._late_margin + LATE_BEYOND
            < upload_ts - slot.expected
            < self._cadence.period / 2
        ):
            # A retry found the slot's record uploaded clearly later than the jitter
            # allows: uploads come late, retries pay off. (One uploaded about within
            # the jitter was aimed at a moment too early: that teaches the jitter
            # and the delay, not this.)
            self._retries.came_late()
        lo = -math.inf if self._last_poll is None else self._last_poll - upload_ts
        hi = now - upload_ts
        if lo <= hi:
            before = self._delay.estimate()
            self._delay.add(lo, hi)
            after = self._delay.estimate()
            if (
                slot is not None
                and slot.probed
                and before is not None
                and after is not None
            ):
                hit = slot.probe_at is not None and now >= slot.probe_at - TIMER_SLACK
                self._delay.probed(
                    self._cadence.period, hit=hit, lowered_by=before - after
                )
        self._records_to_verify = max(0, self._records_to_verify - 1)
        if (
            previous is not None
            and upload_ts - previous > MAX_GAP_PERIODS * self._cadence.period
        ):
            # After a night or an outage: the clocks may have drifted apart.
            self._records_to_verify = VERIFY_RECORDS
            self._delay.recheck()
        self._cadence.learn(upload_ts, previous)
        self._learn_phase(upload_ts, previous)
        self._seen.append(upload_ts)
        self._last_upload_ts = upload_ts
        self._missed_slots = 0
        # Asleep, nothing is expected until the inverter wakes up.
        self._slot = None if asleep else self._first_slot(now)

    def _learn_phase(self, upload_ts: float, previous: float | None) -> None:
        if previous is None or not self._trackers:
            self._trackers = [_PhaseTracker(gain, upload_ts) for gain in TRACKER_GAINS]
            return
        if not 0 < upload_ts - previous <= MAX_GAP_PERIODS * self._cadence.period:
            # After a night or an outage the inverter starts a new rhythm.
            for tracker in self._trackers:
                tracker.resync(upload_ts)
            return
        for tracker in self._trackers:
            tracker.update(upload_ts, self._cadence.period)

    @property
    def _jitter_known(self) -> bool:
        return bool(self._trackers) and self._best_tracker().score() < math.inf

    def _best_tracker(self) -> _PhaseTracker:
        return min(self._trackers, key=_PhaseTracker.score)

    # --- Slots --------------------------------------------------------------------

    def _first_slot(self, now: float) -> _Slot:
        """Aim at the upload after the one just seen, with a probe if one is due."""
        slot = self._slot_at(self._best_tracker().anchor + self._cadence.period)
        tested = self._delay.probe_delay(self._cadence.period)
        if tested is None or (self._thrifty and self._delay.learnt):
            return slot
        probe_at = slot.expected + tested + SAFETY_MARGIN
        if now + MIN_POLL_GAP < probe_at < slot.due:
            slot.probe_at = slot.due = probe_at
            slot.probed = True
        return slot

    def _slot_at(self, expected: float) -> _Slot:
        """Return a slot for the upload expected at ``expected`` (upload clock)."""
        retry = self._worth_retrying()
        return _Slot(expected, retry, self._safe_aim(expected, retry=retry))

    def _safe_aim(self, expected: float, *, retry: bool) -> float:
        """Return when a slot's record should be there (our clock).

        With the estimated delay if a missing record is retried; else with the
        upper bound of the delay, which a record has proved, and a little more
        margin (a moment later, so that a missing record is one not uploaded
        rather than one aimed at too early).
        """
        delay = self._delay.estimate()
        assert delay is not None
        if not retry and math.isfinite(self._delay.upper):
            delay = max(delay, self._delay.upper) + UNRETRIED_MARGIN
        return expected + delay + self._late_margin + SAFETY_MARGIN

    def _give_up_after(self) -> float:
        if self._thrifty:
            return 0.0
        if not self._jitter_known or self._records_to_verify:
            # Until the jitter and the delay are known (again), a late upload is
            # as likely as a missed one.
            return self._cadence.period / 3
        return min(
            max(GIVE_UP_MIN, GIVE_UP_FACTOR * self._late_margin),
            self._cadence.period / 3,
        )

    def _on_same_record(self, now: float, slot: _Slot) -> None:
        """Count a poll that found no new record against the slot waited for."""
        safe = self._safe_aim(slot.expected, retry=slot.retry)
        if slot.probe_at is not None and now >= slot.probe_at - TIMER_SLACK:
            slot.probe_at = None
        if now < safe - TIMER_SLACK:
            return
        slot.misses += 1
        step = RETRY_STEPS[min(slot.misses, len(RETRY_STEPS)) - 1]
        if slot.retry and now + step <= safe + self._give_up_after():
            return
        if slot.retry:
            # Retried in vain: this one was not uploaded.
            self._retries.never_came()
        else:
            self._retries.not_retried()
        # Clearly missed: aim at the following slot (and skip any that passed).
        slot = self._next_slot(slot)
        while (
            self._safe_aim(slot.expected, retry=slot.retry) + self._give_up_after()
            < now
        ):
            slot = self._next_slot(slot)

    def _worth_retrying(self) -> bool:
        """Return whether to retry the slot's record if missing (see RETRY_HISTORY)."""
        if self._thrifty:
            return False
        return (
            not self._jitter_known
            or not self._delay.learnt
            or bool(self._records_to_verify)
            or self._retries.worth_retrying
        )

    def _next_slot(self, slot: _Slot) -> _Slot:
        """Give a slot up: wait for the one after it."""
        self._slot = self._slot_at(slot.expected + self._cadence.period)
        self._missed_slots += 1
        return self._slot

    def _slot_poll(self, slot: _Slot) -> float:
        assert self._last_poll is not None
        if slot.probe_at is not None:
            return slot.probe_at
        if slot.misses == 0:
            return self._safe_aim(slot.expected, retry=slot.retry)
        return self._last_poll + RETRY_STEPS[min(slot.misses, len(RETRY_STEPS)) - 1]

    def _quiet_poll(self, *, asleep: bool) -> float:
        """Return the next poll while asleep or dormant."""
        assert self._last_poll is not None
        last = self._last_poll
        planned = last + QUIET_INTERVAL
        if asleep and self._sun.dark_until_sunrise(last):
            # Asleep through the night: nothing can change until the morning.
            planned = math.inf
        for sunrise in self._sun.sunrises():
            start, end = sunrise - self._morning_lead, sunrise + MORNING_SPAN
            if last < end:
                planned = min(planned, self._morning_poll(last, start))
        return planned

    def _check_morning_lead(self, now: float, upload_ts: float) -> None:
        """Start the morning search earlier if it began after the inverter woke."""
        assert self._last_poll is not None
        available = upload_ts + self._search_delay()
        for sunrise in self._sun.sunrises():
            start = sunrise - self._morning_lead
            if (
                self._last_poll < start <= now <= sunrise + MORNING_SPAN
                and available < start
            ):
                # The first poll of the search found a record uploaded before it
                # began: the inverter was awake already.
                self._morning_lead = min(
                    self._morning_lead + MORNING_LEAD_STEP, MORNING_LEAD_MAX
                )
                return

    def _morning_poll(self, last: float, start: float) -> float:
        """Return the next poll of the morning search, from ``start`` on.

        One poll per slot of the schedule the inverter last had, each aimed like a
        poll of a day-time slot with twice the lateness allowance (the schedule's
        phase may rest on the evening's last upload alone, as jittery as the one
        searched for): if it wakes up on that rhythm, its first record is seen
        within seconds; if not, still within a cadence, before the next one
        replaces it. Thrifty: every other slot.
        """
        if not self._trackers:
            # No rhythm known: just often enough never to miss the first record.
            interval = self._cadence.period - 2 * (self._late_margin + SAFETY_MARGIN)
            if self._thrifty:
                interval *= 2
            return max(start, last + interval)
        gap = self._cadence.period if self._thrifty else MIN_POLL_GAP
        not_before = max(start, last + gap)
        base = (
            self._best_tracker().anchor
            + self._search_delay()
            + 2 * self._late_margin
            + SAFETY_MARGIN
        )
        return (
            base
            + math.ceil((not_before - base) / self._cadence.period)
            * self._cadence.period
        )

    def _search_delay(self) -> float:
        """Return the delay to search with: learnt, else the prior."""
        estimate = self._delay.estimate()
        return DELAY_PRIOR if estimate is None else estimate


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
