/** Types of fake-vectors.js. */
export function fakeVector8(text: string): number[];
export function fakeVector3(text: string): number[];
