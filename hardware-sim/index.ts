export * from './arm.js';
export * from './camera.js';
export * from './clock.js';
export * from './gpio.js';
export * from './lane.js';
export * from './qr.js';
export * from './scenarios.js';
export * from './vehicles.js';
