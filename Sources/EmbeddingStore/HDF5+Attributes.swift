import CHDF5

/// Scalar attributes on a file, group or dataset: UTF-8 strings and 64-bit integers.
extension H5Object {
    /// Whether the object has an attribute called `name`.
    func hasAttribute(_ name: String) throws -> Bool {
        let id = self.id
        return try H5.call("H5Aexists", file) { H5Aexists(id, name) } > 0
    }

    /// Writes (or replaces) a scalar variable-length UTF-8 string attribute.
    func setString(_ name: String, _ value: String) throws {
        let type = try H5Types.utf8String(file: file)
        try writeScalarAttribute(name, type: type.id) { attr in
            try value.withCString { cstr in
                var pointer: UnsafePointer<CChar>? = cstr
                try H5.call("H5Awrite", file) { H5Awrite(attr, type.id, &pointer) }
            }
        }
    }

    /// Writes (or replaces) a scalar little-endian int64 attribute.
    func setInt64(_ name: String, _ value: Int64) throws {
        try writeScalarAttribute(name, type: H5Types.int64) { attr in
            var v = value
            try H5.call("H5Awrite", file) { H5Awrite(attr, chdf5_native_int64(), &v) }
        }
    }

    /// Reads a scalar string attribute; nil when absent. Throws `.invalid` when the
    /// attribute exists with another type.
    func string(_ name: String) throws -> String? {
        guard try hasAttribute(name) else { return nil }
        let attr = try openAttribute(name)
        let fileType = H5Object(try H5.call("H5Aget_type", file) { H5Aget_type(attr.id) }, .datatype, file: file)
        let isString = try H5.call("H5Tget_class", file) { H5Tget_class(fileType.id).rawValue } == H5T_STRING.rawValue
        let isVariable = isString ? try H5.call("H5Tis_variable_str", file) { H5Tis_variable_str(fileType.id) } > 0 : false
        guard isVariable else {
            throw StoreError.invalid(file: file, reason: "attribute '\(name)' is not a variable-length string")
        }
        let memType = try H5Types.utf8String(file: file)
        let space = H5Object(try H5.call("H5Aget_space", file) { H5Aget_space(attr.id) }, .dataspace, file: file)
        var pointer: UnsafeMutablePointer<CChar>? = nil
        try H5.call("H5Aread", file) { H5Aread(attr.id, memType.id, &pointer) }
        defer { _ = try? H5.call("H5Dvlen_reclaim", file) { H5Dvlen_reclaim(memType.id, space.id, H5.defaultPL, &pointer) } }
        return pointer.map { String(cString: $0) } ?? ""
    }

    /// Reads a scalar integer attribute as int64; nil when absent.
    func int64(_ name: String) throws -> Int64? {
        guard try hasAttribute(name) else { return nil }
        let attr = try openAttribute(name)
        let fileType = H5Object(try H5.call("H5Aget_type", file) { H5Aget_type(attr.id) }, .datatype, file: file)
        let typeClass = try H5.call("H5Tget_class", file) { H5Tget_class(fileType.id).rawValue }
        guard typeClass == H5T_INTEGER.rawValue else {
            throw StoreError.invalid(file: file, reason: "attribute '\(name)' is not an integer")
        }
        var value: Int64 = 0
        try H5.call("H5Aread", file) { H5Aread(attr.id, chdf5_native_int64(), &value) }
        return value
    }

    private func openAttribute(_ name: String) throws -> H5Object {
        let id = self.id
        return H5Object(try H5.call("H5Aopen", file) { H5Aopen(id, name, H5.defaultPL) }, .attribute, file: file)
    }

    private func writeScalarAttribute(_ name: String, type: hid_t, _ write: (hid_t) throws -> Void) throws {
        let id = self.id
        if try hasAttribute(name) {
            try H5.call("H5Adelete", file) { H5Adelete(id, name) }
        }
        let space = H5Object(try H5.call("H5Screate", file) { H5Screate(H5S_SCALAR) }, .dataspace, file: file)
        let attr = H5Object(try H5.call("H5Acreate2", file) {
            H5Acreate2(id, name, type, space.id, H5.defaultPL, H5.defaultPL)
        }, .attribute, file: file)
        try write(attr.id)
        try attr.close()
    }
}
