export const id = 169;
export const ids = [169];
export const modules = {

/***/ 67169:
/***/ ((module) => {

module.exports = eval("require")("@node-rs/xxhash");


/***/ })

};
