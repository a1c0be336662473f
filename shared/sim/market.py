"""The simulated NSE market (DESIGN.md §6): seeded, deterministic, vectorised.

What it simulates:

- index and stock log-prices move together: a market factor times each asset's beta,
  plus idiosyncratic noise, with U-shaped intraday volatility (``intraday.py``); each
  session opens with a small gap from the previous close;
- a future is the spot carried to its expiry, ``S e^{rT}`` (a positive basis);
- an option is Black-76 on its expiry's forward at the smile vol (``black76.py``);
- every price sits on its instrument's grid (the master's ``tick_size``; indices 0.05),
  options at least one tick;
- each subscribed instrument ticks with a probability that follows a U-shaped activity
  curve; a ticking tradable carries a trade (lot multiples for F&O), cumulative volume,
  OI (F&O), the day's open/high/low, the previous close and 5x5 depth around the last
  price. A bid level that would sit below one tick is sent empty (price 0, quantity 0),
  as Kite sends missing levels. Index ticks carry no depth, volume or OI.

All ticks of a step carry the step's end time. By default indices, futures and stocks
stream; options stream once subscribed. ``next_day`` lists that day's contracts into the
*same* ``master`` object (expired ones go, new expiries and strikes come; surviving
contracts keep their tokens).

Determinism and speed: two generators spawned from ``seed`` drive it. The *path* one
draws, per block of steps, every asset's price path and every instrument's firing draw;
it never depends on subscriptions, so subscribing to options leaves the NIFTY path
unchanged. The *micro* one draws trades and depth. Same seed, day and call sequence give
identical ticks. The block's ticks are planned in bulk (``plan.py``); ``step`` only builds
the ``Tick`` structs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date
from typing import Final

import numpy as np
import numpy.typing as npt

from shared.contracts import Tick
from shared.errors import InstrumentError
from shared.instruments import InstrumentsMaster
from shared.sim import calendar
from shared.sim.black76 import year_fraction
from shared.sim.board import KIND_FUTURE, KIND_OPTION, Board
from shared.sim.intraday import SESSION_NS, step_scales
from shared.sim.listing import list_instruments
from shared.sim.plan import DayState, Plan, plan_steps
from shared.sim.specs import INDEX_SPECS, RISK_FREE_RATE, load_equity_specs

DEFAULT_UNDERLYINGS: Final = ("NIFTY", "BANKNIFTY", "FINNIFTY")
BLOCK_STEPS: Final = 60  # steps planned together (a minute at 250 ms)
_GAP_SCALE: Final = 0.3  # opening gap s.d. as a fraction of a day's s.d.
_START_JITTER: Final = 0.02  # the seed moves starting levels by about 2%
_FUTURE_OI_LOTS: Final = 150_000
_OPTION_OI_LOTS: Final = 40_000

FloatArray = npt.NDArray[np.float64]


class SimMarket:
    """A simulated NSE market that ``step()`` advances by ``step_ms`` of market time.

    Public state: ``master`` (the day's InstrumentsMaster, same object every day), ``day``,
    ``now_ns`` (market time, UTC epoch ns: 09:15 IST before the first step), ``done`` (the
    session is over), ``subscribed`` (tokens that stream; read it, change it only through
    ``subscribe``/``unsubscribe``), ``underlyings``, ``equities``, ``rate``.
    """

    def __init__(
        self,
        seed: int,
        day: date,
        *,
        step_ms: int = 250,
        underlyings: Sequence[str] = DEFAULT_UNDERLYINGS,
        equities: Sequence[str] | None = None,
        strikes_each_side: int = 20,
        weekly_expiries: int = 2,
    ) -> None:
        if not calendar.is_trading_day(day):
            nxt = calendar.next_trading_day(day)
            raise ValueError(f"{day} is not an NSE trading day (weekend or holiday); the next one is {nxt}")
        if step_ms <= 0:
            raise ValueError(f"step_ms must be positive, got {step_ms}")
        unknown = [u for u in underlyings if u not in INDEX_SPECS]
        if unknown:
            raise InstrumentError(f"unknown underlying(s) {unknown}; the simulator lists {', '.join(INDEX_SPECS)}")
        all_equities = {e.tradingsymbol: e for e in load_equity_specs()}
        symbols = list(all_equities) if equities is None else list(equities)
        missing = [s for s in symbols if s not in all_equities]
        if missing:
            raise InstrumentError(f"no seed data for equities {missing} in shared/sim/equities.csv")
        self.seed = seed
        self.day = day
        self.underlyings: tuple[str, ...] = tuple(underlyings)
        self.equities: tuple[str, ...] = tuple(symbols)
        self.rate = RISK_FREE_RATE
        self.step_ms = step_ms
        self.strikes_each_side = strikes_each_side
        self.weekly_expiries = weekly_expiries
        self.master = InstrumentsMaster([], source=f"sim(seed={seed})")
        self.subscribed: set[int] = set()
        self.done = False
        self.now_ns = 0
        path_seq, micro_seq = np.random.SeedSequence(seed).spawn(2)
        self._path_rng = np.random.default_rng(path_seq)
        self._micro_rng = np.random.default_rng(micro_seq)
        self._step_ns = step_ms * 1_000_000
        self._sd_scale, self._activity = step_scales(self._step_ns)
        self._n_steps = self._sd_scale.size
        self._specs = [INDEX_SPECS[u] for u in self.underlyings]
        self._eq_specs = [all_equities[s] for s in self.equities]
        self._init_assets()
        self._listed_strikes: dict[tuple[str, date], set[float]] = {}
        self._oi_by_token: dict[int, int] = {}
        self._plan: Plan | None = None
        prev_close = calendar.session_close_ns(calendar.previous_trading_day(day))
        self._start_day(day, prev_close, set())

    # -- assets: the indices and stocks, one log price each --------------------------------
    def _init_assets(self) -> None:
        market_sd = INDEX_SPECS["NIFTY"].annual_vol / math.sqrt(252)
        names = [s.name for s in self._specs] + [e.tradingsymbol for e in self._eq_specs]
        levels = [s.level for s in self._specs] + [e.price for e in self._eq_specs]
        beta = np.array([s.beta for s in self._specs] + [e.beta for e in self._eq_specs])
        sd = np.array([s.annual_vol / math.sqrt(252) for s in self._specs] + [e.daily_vol for e in self._eq_specs])
        self._asset_of = {n: i for i, n in enumerate(names)}
        self._factor_sd = beta * market_sd  # daily s.d. explained by the market factor
        self._idio_sd = np.sqrt(np.maximum(sd**2 - self._factor_sd**2, 0.0))
        noise = self._path_rng.standard_normal(len(names))
        self._logp = np.log(np.array(levels)) + _START_JITTER * noise  # after the last emitted step

    def _shocks(self, scales: FloatArray) -> FloatArray:
        """Log returns, one row per scale: market factor times beta plus idiosyncratic noise."""
        z = self._path_rng.standard_normal((scales.size, self._logp.size + 1))
        return scales[:, None] * (self._factor_sd[None, :] * z[:, :1] + self._idio_sd[None, :] * z[:, 1:])

    # -- a trading day ---------------------------------------------------------------------
    def _start_day(self, day: date, prev_close_ns: int, previously_listed: set[int]) -> None:
        px = np.exp(self._logp)
        prices = {name: float(px[i]) for name, i in self._asset_of.items()}
        listing = list_instruments(
            day, self._specs, self._eq_specs, prices, self.strikes_each_side, self.weekly_expiries, self._listed_strikes
        )
        board = Board.build(listing, self._asset_of, px, self.step_ms)
        self._board = board
        # the previous close is the model's price at the last session's close, before the gap
        slots = np.arange(len(listing))
        close = np.round(board.fair_ticks(slots, px[board.asset], prev_close_ns, self.rate) * board.tick, 2)
        self._close = close.tolist()
        self.master.reload(replace(inst, last_price=c) for inst, c in zip(listing, self._close, strict=True))
        self._state = DayState.fresh(self._carry_oi(px))
        self._logp = self._logp + self._shocks(np.array([_GAP_SCALE]))[0]
        self.day = day
        self._open_ns = calendar.session_open_ns(day)
        self._close_ns = self._open_ns + SESSION_NS
        self._times = np.minimum(self._open_ns + np.arange(1, self._n_steps + 1) * self._step_ns, self._close_ns)
        self.now_ns = self._open_ns
        self.done = False
        self._k = 0  # the next step
        self._block_start = self._block_end = 0
        self._plan = None
        default = {t for t, k in board.slot_of.items() if board.kind[k] != KIND_OPTION}
        self.subscribed = (self.subscribed & board.slot_of.keys()) | (default - previously_listed)
        self._active = np.zeros(len(listing), dtype=bool)
        self._active[[board.slot_of[t] for t in self.subscribed]] = True
        self._force = np.ones(len(listing), dtype=bool)  # everything prints on a session's first step

    def _carry_oi(self, px: FloatArray) -> npt.NDArray[np.int64]:
        """OI by slot: carried by token; a newly listed contract starts at a plausible level."""
        b = self._board
        oi = np.zeros(len(b.meta), dtype=np.int64)
        fno = [k for k in range(len(b.meta)) if b.kind[k] >= KIND_FUTURE]
        fresh = [k for k in fno if b.meta[k][0] not in self._oi_by_token]
        draws = self._path_rng.uniform(0.5, 1.5, len(fresh))
        for k, u in zip(fresh, draws, strict=True):
            lots = _FUTURE_OI_LOTS * u
            if b.kind[k] == KIND_OPTION:
                step = INDEX_SPECS[self.master.by_token(b.meta[k][0]).name].strike_step
                lots = 100 + _OPTION_OI_LOTS * u * math.exp(-abs(b.strike[k] - px[b.asset[k]]) / (6 * step))
            self._oi_by_token[b.meta[k][0]] = int(lots) * int(b.unit[k])
        for k in fno:
            oi[k] = self._oi_by_token[b.meta[k][0]]
        self._oi_by_token = {b.meta[k][0]: int(oi[k]) for k in fno}
        return oi

    def next_day(self) -> None:
        """Move to the next trading day's 09:15: previous close carried, volume and day OHLC reset, OI kept."""
        self._commit()
        b = self._board
        for k in range(len(b.meta)):
            if b.kind[k] >= KIND_FUTURE:
                self._oi_by_token[b.meta[k][0]] = int(self._state.oi[k])
        previously_listed = set(b.slot_of)
        self._start_day(calendar.next_trading_day(self.day), self._close_ns, previously_listed)

    # -- prices now ------------------------------------------------------------------------
    def _slot(self, token: int) -> int:
        try:
            return self._board.slot_of[token]
        except KeyError:
            raise InstrumentError(f"instrument_token {token} is not listed by the simulator on {self.day}") from None

    def model_price(self, token: int) -> float:
        """The instrument's fair price now, on its grid (what it would print if it ticked)."""
        b = self._board
        k = np.array([self._slot(token)])
        q = b.fair_ticks(k, np.exp(self._logp[b.asset[k]]), self.now_ns, self.rate)
        return round(float(q[0]) * float(b.tick[k[0]]), 2)

    def spot(self, name: str) -> float:
        """The index level of an underlying (``NIFTY``), on the 0.05 grid."""
        if name not in self.underlyings:
            raise InstrumentError(f"{name!r} is not simulated (underlyings: {', '.join(self.underlyings)})")
        return self.model_price(INDEX_SPECS[name].instrument_token)

    def forward(self, name: str, expiry: date) -> float:
        """The unrounded forward of an underlying to 15:30 IST of ``expiry``: what its options are priced on."""
        if name not in self.underlyings:
            raise InstrumentError(f"{name!r} is not simulated (underlyings: {', '.join(self.underlyings)})")
        spot = math.exp(float(self._logp[self._asset_of[name]]))
        return spot * math.exp(self.rate * year_fraction(self.now_ns, expiry))

    def future_price(self, token: int) -> float:
        """A future's fair price now (spot carried to expiry), on its grid."""
        if self._board.kind[self._slot(token)] != KIND_FUTURE:
            raise InstrumentError(f"instrument_token {token} is not a future")
        return self.model_price(token)

    # -- subscriptions -----------------------------------------------------------------------
    def subscribe(self, tokens: Iterable[int]) -> None:
        """Stream these instruments too; each prints on the next step. Unknown token: InstrumentError."""
        wanted = list(tokens)
        slots = [self._slot(t) for t in wanted]  # check all before changing anything
        new = [k for t, k in zip(wanted, slots, strict=True) if t not in self.subscribed]
        if new:
            self.subscribed.update(wanted)
            self._active[new] = True
            self._force[new] = True
            self._commit()  # the next step plans afresh

    def unsubscribe(self, tokens: Iterable[int]) -> None:
        wanted = list(tokens)
        slots = [self._slot(t) for t in wanted]
        gone = [k for t, k in zip(wanted, slots, strict=True) if t in self.subscribed]
        if gone:
            self.subscribed.difference_update(wanted)
            self._active[gone] = False
            self._commit()

    # -- stepping ----------------------------------------------------------------------------
    def _commit(self) -> None:
        """Fold the emitted part of the current plan into the day's state and drop the rest."""
        if self._plan is not None:
            self._plan.commit(self._state, self._k - self._plan.s0)
            self._plan = None

    def _new_block(self) -> None:
        k0 = self._k
        k1 = min(k0 + BLOCK_STEPS, self._n_steps)
        self._block_start, self._block_end = k0, k1
        self._path = self._logp + np.cumsum(self._shocks(self._sd_scale[k0:k1]), axis=0)
        self._fire_u = self._path_rng.random((k1 - k0, len(self._board.meta)))

    def _make_plan(self) -> Plan:
        k, r = self._k, self._k - self._block_start
        plan = plan_steps(
            self._board,
            self._state,
            self._micro_rng,
            s0=k,
            logp=self._path[r:],
            fire_u=self._fire_u[r:],
            activity=self._activity[k : self._block_end],
            times=self._times[k : self._block_end],
            active=self._active,
            force=self._force,
            rate=self.rate,
        )
        self._force[:] = False
        return plan

    def step(self) -> list[Tick]:
        """Advance market time by ``step_ms``; the ticks of that step ([] once the session is over)."""
        if self.done:
            return []
        k = self._k
        if k >= self._block_end:
            self._commit()
            self._new_block()
        plan = self._plan
        if plan is None:
            plan = self._plan = self._make_plan()
        now = int(self._times[k])
        j = k - plan.s0
        ticks = self._emit(plan, plan.bounds[j], plan.bounds[j + 1], now)
        self._logp = self._path[k - self._block_start]
        self._k = k + 1
        self.now_ns = now
        self.done = self._k >= self._n_steps
        return ticks

    def _emit(self, p: Plan, i0: int, i1: int, now: int) -> list[Tick]:
        meta, close, n_index = self._board.meta, self._close, self._board.n_index
        out: list[Tick] = []
        append = out.append
        bpx, bqty, bord, apx, aqty, aord = p.book_sides(i0, i1)
        for i, k, last, high, low, bp, bq, bo, ap, aq, ao in zip(
            range(i0, i1), p.slot[i0:i1], p.last[i0:i1], p.high[i0:i1], p.low[i0:i1],
            bpx, bqty, bord, apx, aqty, aord, strict=True,
        ):  # fmt: skip
            token, exchange, symbol = meta[k]
            if k < n_index:  # an index: no trade, no depth
                append(
                    Tick(
                        ts_event=now,
                        instrument_token=token,
                        exchange=exchange,
                        symbol=symbol,
                        last_price=last,
                        open=p.open[i],
                        high=high,
                        low=low,
                        close=close[k],
                    )
                )
                continue
            append(
                Tick(
                    ts_event=now,
                    instrument_token=token,
                    exchange=exchange,
                    symbol=symbol,
                    last_price=last,
                    last_quantity=p.qty[i],
                    volume=p.volume[i],
                    oi=p.oi[i],
                    open=p.open[i],
                    high=high,
                    low=low,
                    close=close[k],
                    bid_prices=bp,  # type: ignore[arg-type]
                    bid_quantities=bq,  # type: ignore[arg-type]
                    bid_orders=bo,  # type: ignore[arg-type]
                    ask_prices=ap,  # type: ignore[arg-type]
                    ask_quantities=aq,  # type: ignore[arg-type]
                    ask_orders=ao,  # type: ignore[arg-type]
                )
            )
        return out
