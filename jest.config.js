/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', moduleResolution: 'node10', isolatedModules: true } }],
  },
  // @middy/core 7 and commander 15 are ESM-only; ts-jest turns them into CommonJS (see TOOLCHAIN.md).
  moduleNameMapper: { '^@middy/([a-z-]+)$': '<rootDir>/node_modules/@middy/$1/index.js' },
  transformIgnorePatterns: ['/node_modules/(?!(@middy|commander|oidc-provider|openid-client|oauth4webapi|jose|koa|@koa|quick-lru|eta)/)'],
  testTimeout: 30000,
};
