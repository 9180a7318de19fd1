import { describe, expect, it } from 'vitest';
import { StepClock } from './stepClock';

/** A clock whose time and turns the test moves by hand. */
function manualClock() {
  let time = 0;
  const turns: (() => void)[] = [];
  const clock = new StepClock(
    () => time,
    (close) => turns.push(close),
  );
  const endTurn = async () => {
    for (const close of turns.splice(0)) close();
    await Promise.resolve();
  };
  return { clock, at: (t: number) => (time = t), endTurn };
}

describe('StepClock', () => {
  it('charges a step from the later of its recording and the previous arrival', async () => {
    const { clock, at, endTurn } = manualClock();
    at(10);
    const first = clock.arrive(0);
    await endTurn();
    expect(await first).toBe(10);
    at(25);
    const overlapped = clock.arrive(4); // recorded while the first ran: charged from its arrival
    await endTurn();
    expect(await overlapped).toBe(15);
    at(40);
    const afterIdle = clock.arrive(32); // recorded after a pause: charged from its recording
    await endTurn();
    expect(await afterIdle).toBe(8);
  });

  it('splits evenly the interval of steps whose metrics arrive in one turn', async () => {
    const { clock, at, endTurn } = manualClock();
    at(20);
    const a = clock.arrive(0);
    at(20.001);
    const b = clock.arrive(1);
    await endTurn();
    expect(await a).toBeCloseTo(10.0005, 9);
    expect(await b).toBeCloseTo(10.0005, 9);
    at(35);
    const c = clock.arrive(2);
    await endTurn();
    expect(await c).toBeCloseTo(14.999, 9);
  });

  it('closes on a real macrotask by default: two arrivals in one turn share, the next turn starts anew', async () => {
    let time = 0;
    const clock = new StepClock(() => time);
    time = 6;
    const together = [clock.arrive(0), clock.arrive(0)];
    expect(await Promise.all(together)).toEqual([3, 3]);
    time = 9;
    expect(await clock.arrive(0)).toBe(3);
  });
});
