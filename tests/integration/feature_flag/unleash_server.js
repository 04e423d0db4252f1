// Starts an Unleash server for the feature_flag integration tests.
// Settings come from the environment (never argv): the database password and the admin token
// are secrets. Run with the directory that holds node_modules/unleash-server as cwd.
'use strict';

const { createRequire } = require('module');
const path = require('path');
// resolve from the install directory (cwd), which is not an ancestor of this script
const unleash = createRequire(path.join(process.cwd(), 'package.json'))('unleash-server');

const env = (name) => {
    const value = process.env[name];
    if (!value) {
        console.error(`unleash_server.js: ${name} is not set`);
        process.exit(2);
    }
    return value;
};

unleash
    .start({
        db: {
            host: '127.0.0.1',
            port: Number(env('UNLEASH_TEST_DB_PORT')),
            user: env('UNLEASH_TEST_DB_USER'),
            password: env('UNLEASH_TEST_DB_PASSWORD'),
            database: env('UNLEASH_TEST_DB_NAME'),
            ssl: false,
        },
        server: { port: Number(env('UNLEASH_TEST_PORT')), host: '127.0.0.1' },
        authentication: {
            initApiTokens: [
                {
                    environment: '*',
                    project: '*',
                    secret: env('UNLEASH_TEST_ADMIN_TOKEN'),
                    type: 'admin',
                    tokenName: 'feature-flag-tests',
                },
            ],
        },
        versionCheck: { enable: false },
        logLevel: 'warn',
    })
    .then(() => console.log('unleash test server started'))
    .catch((err) => {
        console.error(err);
        process.exit(1);
    });
